import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { forwardLogits, softmax } from '../../functions/text/fasttext-model.ts';
import { featurize } from '../../functions/text/featurizer.ts';
import { createTextClassifyTask } from '../../functions/text/task.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import { readJson, startTestServer, type TestServer } from '../support/http-server.ts';
import { type SpamTestModel, writeSpamTestModel } from '../support/text-models.ts';

const LIMITS = { maxTexts: 8, maxChars: 50_000, maxFileTexts: 50 };

describe('POST /v1/text/classify on a model trained by the test', () => {
  let dir: string;
  let trained: SpamTestModel;
  let server: TestServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-http-'));
    trained = await writeSpamTestModel(dir);
    const store = createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cache') });
    server = await startTestServer({
      tasks: [{ definition: createTextClassifyTask(LIMITS), model: { name: 'spam-small' } }],
      store,
    });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (body: unknown, contentType = 'application/json') =>
    fetch(`${server.url}/v1/text/classify`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    });

  /** What the plain TypeScript forward pass of the trained weights says about a text. */
  const expected = (text: string) => {
    const logits = forwardLogits(trained.model.weights, featurize(text, trained.model.recipe.featurizer));
    return { logits, probabilities: softmax(logits) };
  };

  it('classifies one text and names the model', async () => {
    const response = await post({
      text: 'Subject: LIMITED OFFER\nClick here to claim your FREE prize $$$ now!',
    });

    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body.model).toBe('spam-small@1');
    expect(body.results).toHaveLength(1);
    const [result] = body.results;
    expect(Object.keys(result.scores)).toEqual(['ham', 'spam']);
    expect(result.scores.ham + result.scores.spam).toBeCloseTo(1, 5);
    expect(result.score).toBe(result.scores[result.label]);
    expect(typeof body.timings.inference).toBe('number');
  });

  it('classifies a batch in input order, as the plain TypeScript forward pass does within 1e-5', async () => {
    const texts = trained.test.slice(0, LIMITS.maxTexts).map((e) => e.text.slice(0, LIMITS.maxChars));

    const body = await readJson(await post({ texts }));

    expect(body.results).toHaveLength(texts.length);
    for (const [i, text] of texts.entries()) {
      const { probabilities } = expected(text);
      expect(Math.abs(body.results[i].scores.ham - (probabilities[0] as number))).toBeLessThan(1e-5);
      expect(Math.abs(body.results[i].scores.spam - (probabilities[1] as number))).toBeLessThan(1e-5);
      expect(body.results[i].label).toBe(
        (probabilities[1] as number) > (probabilities[0] as number) ? 'spam' : 'ham',
      );
    }
  });

  it('labels held-out messages mostly right', async () => {
    const examples = trained.test.filter((e) => e.text.length <= LIMITS.maxChars);
    const labels: string[] = [];

    for (let i = 0; i < examples.length; i += LIMITS.maxTexts) {
      const texts = examples.slice(i, i + LIMITS.maxTexts).map((e) => e.text);
      const body = await readJson(await post({ texts }));
      labels.push(...body.results.map((r: { label: string }) => r.label));
    }

    const correct = labels.filter((label, i) => label === examples[i]?.label).length;
    expect(correct / examples.length).toBeGreaterThanOrEqual(0.85);
  });

  it('explains exactly: the bias and every token add up to the logit difference', async () => {
    const text = trained.test.find((e) => e.label === 'spam')?.text ?? '';

    const body = await readJson(await post({ text, explain: 1000 }));

    const { explanation, label } = body.results[0];
    const { logits } = expected(text);
    const [mine, other] = label === 'spam' ? [1, 0] : [0, 1];
    const sum =
      explanation.bias +
      explanation.tokens.reduce((s: number, t: { contribution: number }) => s + t.contribution, 0);
    expect(explanation.against).toBe(label === 'spam' ? 'ham' : 'spam');
    expect(explanation.rest).toBe(0);
    expect(Math.abs(sum - explanation.logitDifference)).toBeLessThan(1e-5);
    expect(
      Math.abs(explanation.logitDifference - ((logits[mine] as number) - (logits[other] as number))),
    ).toBeLessThan(1e-5);
  });

  it('lists the ten tokens that pushed most, largest first, and sums the rest', async () => {
    const text = trained.test.find((e) => e.label === 'spam')?.text ?? '';

    const body = await readJson(await post({ texts: [text], explain: true }));

    const { tokens, rest, bias, logitDifference } = body.results[0].explanation;
    const sizes = tokens.map((t: { contribution: number }) => Math.abs(t.contribution));
    expect(tokens).toHaveLength(10);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    const listed = tokens.reduce((s: number, t: { contribution: number }) => s + t.contribution, 0);
    expect(Math.abs(bias + listed + rest - logitDifference)).toBeLessThan(1e-5);
  });

  it('reads a raw text/plain body as one text', async () => {
    const text = trained.test[0]?.text ?? '';

    const raw = await readJson(await post(text, 'text/plain; charset=utf-8'));
    const json = await readJson(await post({ text }));

    expect(raw.results).toEqual(json.results);
  });

  it('handles empty, control-character, mixed-script and maximum-length texts', async () => {
    const texts = ['', '\u0000\u0007\u001b', 'Grüße aus Köln — 日本語 😀 مرحبا', 'spam '.repeat(1000)];

    const response = await post({ texts });

    expect(response.status).toBe(200);
    const { results } = await readJson(response);
    expect(results).toHaveLength(4);
    // No features: the model answers with the softmax of its bias.
    const prior = softmax(trained.model.weights.bias);
    expect(results[0].scores.spam).toBeCloseTo(prior[1] as number, 5);
    expect(results[1].scores).toEqual(results[0].scores);
    for (const r of results) expect(r.scores.ham + r.scores.spam).toBeCloseTo(1, 5);
  });

  it.each([
    ['broken JSON', 400, '{"text": ', 'application/json'],
    ['a JSON array', 400, '["spam"]', 'application/json'],
    ['no text', 400, { explain: true }, 'application/json'],
    ['both text and texts', 400, { text: 'a', texts: ['b'] }, 'application/json'],
    ['a non-string text', 400, { text: 42 }, 'application/json'],
    ['a non-string in texts', 400, { texts: ['ok', null] }, 'application/json'],
    ['texts that is no array', 400, { texts: 'spam' }, 'application/json'],
    ['empty texts', 400, { texts: [] }, 'application/json'],
    ['a bad explain option', 400, { text: 'a', explain: 'yes' }, 'application/json'],
    ['too many texts', 413, { texts: new Array(LIMITS.maxTexts + 1).fill('hi') }, 'application/json'],
    ['a text over the length limit', 413, { text: 'x'.repeat(LIMITS.maxChars + 1) }, 'application/json'],
    ['a raw text over the length limit', 413, 'x'.repeat(LIMITS.maxChars + 1), 'text/plain'],
    ['an empty raw body', 400, '', 'text/plain'],
    ['bytes that are not UTF-8', 422, new Uint8Array([0x68, 0xff, 0xfe, 0x69]), 'text/plain'],
    ['an unsupported media type', 415, 'hello', 'application/pdf'],
  ] as const)('answers %s with a JSON %i', async (_label, status, body, contentType) => {
    const response = await post(body, contentType);

    expect(response.status).toBe(status);
    expect(typeof (await readJson(response)).error).toBe('string');
  });

  it('reads an uploaded .txt as one text and a .jsonl as one result per line, ids echoed', async () => {
    const { service } = server.runtime;
    const encode = (s: string) => new TextEncoder().encode(s);
    const lines = [
      JSON.stringify({ id: 'a', text: 'hello there' }),
      '',
      JSON.stringify('WIN CASH NOW'),
      JSON.stringify({ id: 7, text: '' }),
    ];

    const txt = await service.infer(
      'text/classify',
      { mediaType: '', bytes: encode('Dear friend,\nwin now'), filename: 'incoming/text/mail.txt' },
      'upload',
    );
    const jsonl = await service.infer(
      'text/classify',
      { mediaType: '', bytes: encode(lines.join('\n')), filename: 'incoming/text/batch.jsonl' },
      'upload',
    );

    expect(txt.results).toHaveLength(1);
    const results = jsonl.results as { line: number; id?: string | number; label: string }[];
    expect(results.map((r) => [r.line, r.id])).toEqual([
      [1, 'a'],
      [3, undefined],
      [4, 7],
    ]);
    expect(results.every((r) => r.label === 'ham' || r.label === 'spam')).toBe(true);
  });

  it('refuses an uploaded .jsonl line without text, naming the line', async () => {
    const bytes = new TextEncoder().encode('{"text": "ok"}\n{"body": "no text"}\n');

    const run = server.runtime.service.infer(
      'text/classify',
      { mediaType: '', bytes, filename: 'x.jsonl' },
      'upload',
    );

    await expect(run).rejects.toThrow(/line 2/);
  });

  it('serves the model through the Open Inference Protocol too', async () => {
    const ids = Array.from(featurize('free money now', trained.model.recipe.featurizer));
    await server.runtime.service.warm();

    const meta = await readJson(await fetch(`${server.url}/v2/models/spam-small`));
    const response = await fetch(`${server.url}/v2/models/spam-small/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'ids', shape: [ids.length], datatype: 'INT64', data: ids },
          { name: 'offsets', shape: [1], datatype: 'INT64', data: [0] },
        ],
      }),
    });

    expect(meta.inputs).toEqual([
      { name: 'ids', datatype: 'INT64', shape: [-1] },
      { name: 'offsets', datatype: 'INT64', shape: [-1] },
    ]);
    expect(response.status).toBe(200);
    const outputs = (await readJson(response)).outputs as { name: string; data: number[] }[];
    const probabilities = outputs.find((o) => o.name === 'probabilities')?.data ?? [];
    const { probabilities: want } = expected('free money now');
    expect(Math.abs((probabilities[1] as number) - (want[1] as number))).toBeLessThan(1e-5);
  });

  it("waits for a cold server's models on its first OIP request instead of answering 503", async () => {
    const ids = Array.from(featurize('free money now', trained.model.recipe.featurizer));
    const cold = await startTestServer({
      tasks: [{ definition: createTextClassifyTask(LIMITS), model: { name: 'spam-small' } }],
      store: createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cold-cache') }),
    });

    const response = await fetch(`${cold.url}/v2/models/spam-small/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'ids', shape: [ids.length], datatype: 'INT64', data: ids },
          { name: 'offsets', shape: [1], datatype: 'INT64', data: [0] },
        ],
      }),
    });
    await cold.close();

    expect(response.status).toBe(200);
  });

  it('splits a batch over several session runs when it holds more ids than one run may, same results', async () => {
    const store = createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cache') });
    const classifier = await TextClassifier.create(await store.load('spam-small', '1', 'fp32'));
    const texts = trained.test.slice(0, 12).map((e) => e.text);

    const oneRun = await classifier.classify(texts);
    const manyRuns = await classifier.classify(texts, { maxValuesPerRun: 2000 });

    expect(manyRuns.map((r) => r.label)).toEqual(oneRun.map((r) => r.label));
    for (const [i, r] of manyRuns.entries()) {
      expect(Math.abs((r.scores.spam as number) - (oneRun[i]?.scores.spam as number))).toBeLessThan(1e-6);
    }
  });

  it('serves the int8 variant to the lambda tier, close to fp32', async () => {
    const store = createModelStore({
      repository: join(dir, 'repository'),
      cacheDir: join(dir, 'cache'),
      tier: 'lambda',
    });
    const texts = trained.test.map((e) => e.text);

    const int8 = await TextClassifier.create(await store.load('spam-small'));
    const fp32 = await TextClassifier.create(await store.load('spam-small', '1', 'fp32'));
    const [a, b] = [await int8.classify(texts), await fp32.classify(texts)];

    expect((await store.load('spam-small')).variant).toBe('int8');
    const agree = a.filter((r, i) => r.label === b[i]?.label).length;
    expect(agree / texts.length).toBeGreaterThanOrEqual(0.95);
    const drift = Math.max(
      ...a.map((r, i) => Math.abs((r.scores.spam as number) - (b[i]?.scores.spam as number))),
    );
    expect(drift).toBeLessThan(0.05);
  });
});
