import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/core/errors.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import type { ModelStore } from '../../functions/core/model-store/types.ts';
import { writeModelVersion } from '../../functions/core/model-store/write-model.ts';
import { TextEmbedder } from '../../functions/text/embedder.ts';
import { TextTokenizer } from '../../functions/text/tokenizer.ts';
import {
  type MultiLabelClassification,
  TransformerClassifier,
} from '../../functions/text/transformer-classifier.ts';
import { type ImportOptions, planImport } from '../../functions/text/transformer-import.ts';
import {
  type BertExportOptions,
  type BertWeights,
  meanPooledNormalised,
  referenceForward,
  wordPieceTokenizerJson,
  writeBertExport,
} from '../support/bert-model.ts';

const TOLERANCE = 1e-4;
const TEXTS = [
  'win a free cruise, click now!',
  'please send the report before noon',
  'hello',
  'money cash prize for you, win win win',
];
const LONG = `${'hello world '.repeat(40)}money`;

let directory: string;
let store: ModelStore;
const weights = new Map<string, BertWeights>();

async function imported(
  name: string,
  exportOptions: BertExportOptions,
  importOptions: Partial<ImportOptions> = {},
) {
  const from = join(directory, 'exports', name);
  weights.set(name, await writeBertExport(from, exportOptions));
  const plan = await planImport({ from, name, version: '1', ...importOptions });
  await writeModelVersion(join(directory, 'repository'), plan.manifest, plan.files);
}

/** What the reference gives for texts, tokenised as the served model tokenises them (truncation included). */
function reference(name: string, texts: readonly string[]) {
  const model = weights.get(name) as BertWeights;
  const tokenizer = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: model.maxPositions });
  return referenceForward(
    model,
    texts.map((t) => tokenizer.encode(t)),
  );
}

/** Each number within `tolerance` of the expected one, and as many of them. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = TOLERANCE) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    expect(Math.abs((actual[i] as number) - (expected[i] as number)), `element ${i}`).toBeLessThan(tolerance);
  }
}

const softmax = (z: number[]) => {
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  return e.map((v) => v / e.reduce((s, x) => s + x, 0));
};

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'inferlet-transformer-'));
  await imported('sentiment', {
    head: 'classifier',
    labels: 3,
    labelNames: ['negative', 'neutral', 'positive'],
    seed: 11,
  });
  await imported('topics', {
    head: 'classifier',
    labels: 4,
    labelNames: ['spam', 'work', 'money', 'greeting'],
    problemType: 'multi_label_classification',
    seed: 12,
    tokenTypes: false,
    modelPath: 'onnx/model.onnx',
  });
  await imported('encoder', { head: 'encoder', seed: 13 });
  await imported('encoder-cls', { head: 'encoder', seed: 13 }, { pooling: 'cls' });
  await imported('encoder-pooler', { head: 'encoder', seed: 13 }, { pooling: 'pooler' });
  store = createModelStore({ repository: join(directory, 'repository'), cacheDir: join(directory, 'cache') });
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('an imported sequence classifier', () => {
  it('scores each label as the reference forward pass does, by the names of id2label', async () => {
    const classifier = await TransformerClassifier.create(await store.load('sentiment'));

    const results = await classifier.classify(TEXTS);

    const expected = reference('sentiment', TEXTS).logits.map(softmax);
    for (const [i, result] of results.entries()) {
      const p = expected[i] as number[];
      expect(Object.keys(result.scores)).toEqual(['negative', 'neutral', 'positive']);
      expectClose(Object.values(result.scores), p);
      const best = p.indexOf(Math.max(...p));
      expect(result.label).toBe(['negative', 'neutral', 'positive'][best]);
      expect(Math.abs(result.score - (p[best] as number))).toBeLessThan(TOLERANCE);
    }
  });

  it('scores a text the same alone as in a batch', async () => {
    const classifier = await TransformerClassifier.create(await store.load('sentiment'));

    const together = await classifier.classify(TEXTS);
    const alone = await Promise.all(TEXTS.map(async (t) => (await classifier.classify([t]))[0]));

    for (const [i, result] of together.entries()) {
      for (const [label, score] of Object.entries(result.scores)) {
        expect(Math.abs(score - (alone[i]?.scores[label] as number))).toBeLessThan(1e-5);
      }
    }
  });

  it('cuts a text longer than the model takes to its first tokens, as the reference does', async () => {
    const classifier = await TransformerClassifier.create(await store.load('sentiment'));

    const [result] = await classifier.classify([LONG]);

    const p = softmax(reference('sentiment', [LONG]).logits[0] as number[]);
    expectClose(Object.values(result?.scores ?? {}), p);
  });

  it('gives every label over the threshold to a multi-label model, with sigmoid scores', async () => {
    const classifier = await TransformerClassifier.create(await store.load('topics'));

    const results = (await classifier.classify(TEXTS)) as MultiLabelClassification[];

    const names = ['spam', 'work', 'money', 'greeting'];
    for (const [i, result] of results.entries()) {
      const p = (reference('topics', TEXTS).logits[i] as number[]).map((z) => 1 / (1 + Math.exp(-z)));
      expectClose(Object.values(result.scores), p);
      const over = names.filter((_, c) => (p[c] as number) >= 0.5);
      expect([...result.labels].sort()).toEqual(over.sort());
    }
    expect(results.some((r) => r.labels.length > 1) || results.some((r) => r.labels.length === 0)).toBe(true);
  });

  it('answers a request for an explanation with a 400 that says why', async () => {
    const classifier = await TransformerClassifier.create(await store.load('sentiment'));

    const asked = classifier.classify(['hello'], { explainTokens: 5 });

    await expect(asked).rejects.toThrow(InvalidInputError);
    await expect(asked).rejects.toThrow('model sentiment@1 cannot explain its answers');
  });
});

describe('an imported encoder', () => {
  it('embeds texts as the mean of their token vectors over the mask, of length 1, as the reference does', async () => {
    const embedder = await TextEmbedder.create(await store.load('encoder'));

    const vectors = await embedder.embed([...TEXTS, LONG]);

    const expected = reference('encoder', [...TEXTS, LONG]).lastHidden.map(meanPooledNormalised);
    for (const [i, vector] of vectors.entries()) {
      expect(vector).toHaveLength(16);
      expectClose(vector, expected[i] as number[]);
    }
  });

  it('embeds a text the same alone, padded in a batch of longer texts, and in a batch split over runs', async () => {
    const embedder = await TextEmbedder.create(await store.load('encoder'));

    const [alone] = await embedder.embed(['hello']);
    const padded = await embedder.embed(['hello', LONG, 'hello world']);
    const split = await embedder.embed(['hello', LONG, 'hello world'], { maxTokensPerRun: 40 });

    expectClose(alone as Float32Array, padded[0] as Float32Array, 1e-5);
    for (const [i, vector] of padded.entries()) expectClose(vector, split[i] as Float32Array, 1e-5);
  });

  it('pools by the first token or by the pooler output where the manifest says so', async () => {
    const cls = await TextEmbedder.create(await store.load('encoder-cls'));
    const pooler = await TextEmbedder.create(await store.load('encoder-pooler'));

    const [byCls] = await cls.embed(['hello world']);
    const [byPooler] = await pooler.embed(['hello world']);

    const ref = reference('encoder', ['hello world']);
    const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
    const first = unit(ref.lastHidden[0]?.[0] as number[]);
    const pooled = unit(ref.pooled[0] as number[]);
    expectClose(byCls as Float32Array, first);
    expectClose(byPooler as Float32Array, pooled);
  });
});
