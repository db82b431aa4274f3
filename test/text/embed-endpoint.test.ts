/**
 * End to end: Hugging Face-style export folders imported with `models:import` and served by `npm start`'s
 * server (a child process) on /v1/text/classify and /v1/text/embed, through uploads to its embedded S3,
 * and through OIP, each answer equal (1e-4) to a reference forward pass.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextEmbedResult } from '../../functions/core/http/api-schemas.ts';
import { TextTokenizer } from '../../functions/text/tokenizer.ts';
import { importModel } from '../../scripts/import-model.ts';
import {
  type BertWeights,
  meanPooledNormalised,
  referenceForward,
  wordPieceTokenizerJson,
  writeBertExport,
} from '../support/bert-model.ts';
import { freePort } from '../support/free-port.ts';
import { readJson } from '../support/http-server.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { startS3rver } from '../support/s3rver.ts';

const TOLERANCE = 1e-4;
const TEXTS = ['win a free cruise, click now!', 'please send the report before noon', 'hello'];
const LABELS = ['negative', 'neutral', 'positive'];

let work: string;
let server: LocalServer;
let url: string;
let classifierWeights: BertWeights;
let encoderWeights: BertWeights;
const tokenizer = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 32 });

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    expect(Math.abs((actual[i] as number) - (expected[i] as number)), `element ${i}`).toBeLessThan(TOLERANCE);
  }
}

const softmax = (z: number[]) => {
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  return e.map((v) => v / e.reduce((s, x) => s + x, 0));
};
const expectedScores = (texts: readonly string[]) =>
  referenceForward(
    classifierWeights,
    texts.map((t) => tokenizer.encode(t)),
  ).logits.map(softmax);
const expectedVectors = (texts: readonly string[]) =>
  referenceForward(
    encoderWeights,
    texts.map((t) => tokenizer.encode(t)),
  ).lastHidden.map(meanPooledNormalised);

async function post(path: string, body: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await readJson(response) };
}

/** The result an upload gets, once the server has written it. */
async function resultOf(key: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const found = await server.s3
      .send(new GetObjectCommand({ Bucket: 'uploads', Key: key }))
      .then(async (o) => JSON.parse(await (o.Body?.transformToString() ?? '')))
      .catch(() => undefined);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${key}`);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'inferlet-byom-'));
  const repository = join(work, 'repository');
  classifierWeights = await writeBertExport(join(work, 'sentiment'), {
    head: 'classifier',
    labels: 3,
    labelNames: LABELS,
    seed: 21,
  });
  encoderWeights = await writeBertExport(join(work, 'encoder'), { head: 'encoder', seed: 22 });
  await importModel(['--from', join(work, 'sentiment'), '--name', 'sentiment', '--repository', repository]);
  await importModel(['--from', join(work, 'encoder'), '--name', 'encoder', '--repository', repository]);
  const [port, s3Port] = [await freePort(), await freePort()];
  server = await startLocalServer({
    directory: work,
    port,
    s3Port,
    env: {
      TASKS: 'text/classify,text/embed',
      MODEL_REPOSITORY: repository,
      MODEL_TEXT_CLASSIFY: 'sentiment',
      MODEL_TEXT_EMBED: 'encoder@1',
    },
  });
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('an imported model served by npm start', () => {
  it('classifies texts on /v1/text/classify with the labels of id2label, as the reference does', async () => {
    const { status, body } = await post('/v1/text/classify', { texts: TEXTS });

    expect(status).toBe(200);
    expect(body.model).toBe('sentiment@1');
    const expected = expectedScores(TEXTS);
    for (const [i, result] of body.results.entries()) {
      expect(Object.keys(result.scores)).toEqual(LABELS);
      expectClose(Object.values(result.scores), expected[i] as number[]);
      expect(result.label).toBe(
        LABELS[(expected[i] as number[]).indexOf(Math.max(...(expected[i] as number[])))],
      );
    }
  });

  it('answers 400 with a reason when asked to explain an imported classifier', async () => {
    const { status, body } = await post('/v1/text/classify', { text: 'hello', explain: true });

    expect(status).toBe(400);
    expect(body.error).toContain('cannot explain');
  });

  it('embeds texts on /v1/text/embed: mean pooled, of length 1, as the reference does', async () => {
    const { status, body } = await post('/v1/text/embed', { texts: TEXTS });

    expect(status).toBe(200);
    expect(body).toMatchObject({ model: 'encoder@1', dimensions: 16 });
    const expected = expectedVectors(TEXTS);
    expect(body.embeddings).toHaveLength(TEXTS.length);
    for (const [i, vector] of body.embeddings.entries()) expectClose(vector, expected[i] as number[]);
  });

  it('describes /v1/text/embed in /openapi.json with the schemas its answer parses with', async () => {
    const { status, body } = await post('/v1/text/embed', { text: TEXTS[0] });
    const document = await readJson(await fetch(`${url}/openapi.json`));

    expect(status).toBe(200);
    expect(TextEmbedResult.safeParse(body).success).toBe(true);
    const operation = document.paths['/v1/text/embed'].post;
    expect(operation.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/TextEmbedJsonRequest',
    );
    expect(JSON.stringify(operation.responses['200'])).toContain('#/components/schemas/TextEmbedResult');
  });

  it('serves the imported encoder over OIP, its last_hidden_state equal to the reference', async () => {
    const ids = tokenizer.encode('hello world').ids;
    const tensor = (name: string, data: readonly number[]) => ({
      name,
      datatype: 'INT64',
      shape: [1, ids.length],
      data,
    });

    const { status, body } = await post('/v2/models/encoder/infer', {
      inputs: [
        tensor('input_ids', ids),
        tensor(
          'attention_mask',
          ids.map(() => 1),
        ),
        tensor(
          'token_type_ids',
          ids.map(() => 0),
        ),
      ],
      outputs: [{ name: 'last_hidden_state' }],
    });

    expect(status).toBe(200);
    const output = body.outputs.find((o: { name: string }) => o.name === 'last_hidden_state');
    expect(output.shape).toEqual([1, ids.length, 16]);
    expectClose(output.data, referenceForward(encoderWeights, [{ ids }]).lastHidden[0]?.flat() as number[]);
  });

  it('writes vectors for a .jsonl uploaded under incoming/text/embed/ and labels for one under incoming/text/', async () => {
    const lines = TEXTS.map((text, i) => JSON.stringify({ id: `n${i}`, text })).join('\n');
    for (const key of ['incoming/text/embed/notes.jsonl', 'incoming/text/notes.jsonl']) {
      await server.s3.send(new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: lines }));
    }

    const embedded = (await resultOf('results/text/embed/notes.jsonl.json')) as {
      embeddings: number[][];
      lines: { line: number; id: string }[];
    };
    const classified = (await resultOf('results/text/notes.jsonl.json')) as {
      results: { id: string; scores: Record<string, number> }[];
    };

    const vectors = expectedVectors(TEXTS);
    embedded.embeddings.forEach((vector, i) => {
      expectClose(vector, vectors[i] as number[]);
    });
    expect(embedded.lines.map((l) => l.id)).toEqual(['n0', 'n1', 'n2']);
    const scores = expectedScores(TEXTS);
    classified.results.forEach((result, i) => {
      expect(result.id).toBe(`n${i}`);
      expectClose(Object.values(result.scores), scores[i] as number[]);
    });
  });
});

describe('models:import to an S3 repository', () => {
  it('publishes each import as the next version, with every file the manifest names', async () => {
    const s3 = await startS3rver({ buckets: ['byom'], setEnv: true });
    try {
      const args = ['--from', join(work, 'encoder'), '--name', 'encoder', '--repository', 's3://byom/prod'];

      const first = await importModel(args);
      const second = await importModel(args);

      expect([first.version, second.version]).toEqual(['1', '2']);
      const listed = await new S3Client({}).send(
        new ListObjectsV2Command({ Bucket: 'byom', Prefix: 'prod/encoder/1/' }),
      );
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(
        [
          'config.json',
          'manifest.json',
          'model.onnx',
          'special_tokens_map.json',
          'tokenizer.json',
          'tokenizer_config.json',
        ].map((f) => `prod/encoder/1/${f}`),
      );
    } finally {
      await s3.stop();
    }
  });
});
