/**
 * `npm run bench:text`: the text classifier benchmark, every figure measured in this one run on the fixed
 * SpamAssassin test split.
 *
 * 1. The default model (`spam-fasttext@2`, built into `models/` if missing): accuracy and spam F1 of the
 *    fp32 and int8 variants through the serving pipeline (featuriser + onnxruntime), and their file sizes.
 * 2. Against `natural`'s `BayesClassifier` and `LogisticRegressionClassifier`, trained on the training
 *    split. Both turn every message into a dense vector over their whole vocabulary (O(vocabulary × tokens)
 *    per message), and logistic regression runs full-batch gradient descent on a dense documents ×
 *    vocabulary matrix: on the full split (4850 messages) neither finishes in reasonable time (logistic
 *    regression took over 13 minutes on 485 messages without finishing). So each trains on an evenly spaced
 *    sample of the training split (`BENCH_BAYES_TRAIN`, default 1000; `BENCH_LR_TRAIN`, default 200), and
 *    our recipe is trained on the very same sample too, for a like-for-like accuracy comparison (with as many
 *    SGD updates as on the whole split, at most 100 epochs: fastText's practice of more epochs on less data).
 * 3. Inference time per message over the whole test split: ours in batches of 64 and one message at a
 *    time (featurise, one session run, postprocess; median of `BENCH_RUNS`, default 5, passes, fp32 and
 *    int8 in alternation);
 *    natural's `classify` per message (it has no batch call; `BENCH_NATURAL_RUNS` passes, default 1).
 *    Ratios are natural's time per message over ours.
 *
 * Writes `bench/results/text.json` as well.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { TextClassifier } from '../functions/text/text-classifier.ts';
import { buildTextModels, MODERN_TRAIN_REPEATS, SPAM_MODEL, SPAM_RECIPE } from '../scripts/models/text.ts';
import {
  type ClassificationReport,
  classificationReport,
  f1Of,
} from '../scripts/text/classification-report.ts';
import { readModernTrain } from '../scripts/text/modern-train.ts';
import { readSpamAssassin } from '../scripts/text/spam-assassin.ts';
import { trainTextClassifier, writeTextClassifier } from '../scripts/text/train-classifier.ts';
import { writeResults } from './results.ts';
import { median } from './stats.ts';

/** The part of natural's classifier API the benchmark uses. */
interface NaturalClassifier {
  addDocument(text: string, label: string): void;
  train(): void;
  classify(text: string): string;
}
// natural ships TypeScript sources that its typings pull in and this project's strict settings reject;
// loading it untyped, with the small interface above, keeps the typecheck to our code.
const natural = createRequire(import.meta.url)('natural') as Record<
  'BayesClassifier' | 'LogisticRegressionClassifier',
  new () => NaturalClassifier
>;

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const NATURAL_RUNS = Number(process.env.BENCH_NATURAL_RUNS ?? 1);
const BAYES_TRAIN = Number(process.env.BENCH_BAYES_TRAIN ?? 1000);
const LR_TRAIN = Number(process.env.BENCH_LR_TRAIN ?? 200);
const MODELS = resolve('models');
const BATCH = 64;

const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-text-'));
const messages = await readSpamAssassin();
const train = messages.filter((m) => m.split === 'train');
const test = messages.filter((m) => m.split === 'test');
const truth = test.map((m) => m.label);
const texts = test.map((m) => m.text);
/** `size` evenly spaced messages of the training split (it is ordered by group, so both labels are in). */
const sampleOf = (size: number) => {
  const step = Math.max(1, Math.floor(train.length / size));
  return train.filter((_, i) => i % step === 0).slice(0, size);
};
console.log(
  `SpamAssassin: ${train.length} training, ${test.length} test messages (${truth.filter((l) => l === 'spam').length} spam)`,
);

/** Median over runs of the per-message time of `classifyAll` over the test split, in ms. */
async function perMessage(
  classifyAll: () => Promise<string[]> | string[],
  runs = RUNS,
): Promise<{ ms: number; predicted: string[] }> {
  const times: number[] = [];
  let predicted: string[] = [];
  for (let run = 0; run < runs; run++) {
    const t0 = performance.now();
    predicted = await classifyAll();
    times.push((performance.now() - t0) / texts.length);
  }
  return { ms: median(times), predicted };
}

interface Row {
  readonly name: string;
  readonly trainedOn: number;
  readonly accuracy: number;
  readonly spamF1: number;
  readonly bytes?: number;
  readonly batchMs?: number;
  readonly singleMs: number;
  readonly trainMs?: number;
}
const rows: Row[] = [];
const score = (predicted: string[]): ClassificationReport =>
  classificationReport(truth, predicted, ['ham', 'spam']);

/** Labels of the test split through a classifier, in batches of `size`. */
async function classifyAll(classifier: TextClassifier, size: number): Promise<string[]> {
  const labels: string[] = [];
  for (let i = 0; i < texts.length; i += size) {
    for (const r of await classifier.classify(texts.slice(i, i + size))) labels.push(r.label);
  }
  return labels;
}

/**
 * The default model's fp32 and int8 variants through the serving pipeline: accuracy, size and speed. The
 * variants are timed in alternation, pass after pass, so that load from elsewhere on the machine hits both
 * alike; each figure is the median over the passes.
 */
async function ours(repository: string, model: string, version: string, trainedOn: number) {
  const store = createModelStore({ repository, cacheDir: join(work, 'cache') });
  const variants = await Promise.all(
    ['fp32', 'int8'].map(async (variant) => {
      const loaded = await store.load(model, version, variant);
      const classifier = await TextClassifier.create(loaded);
      await classifyAll(classifier, BATCH); // warm-up
      const file = loaded.manifest.variants[variant]?.file ?? '';
      return { variant, classifier, bytes: (await stat(loaded.files.get(file) as string)).size };
    }),
  );
  const times = variants.map(() => ({
    batch: [] as number[],
    single: [] as number[],
    predicted: [] as string[],
  }));
  for (let run = 0; run < RUNS; run++) {
    for (const [i, { classifier }] of variants.entries()) {
      const t = times[i] as (typeof times)[number];
      let t0 = performance.now();
      t.predicted = await classifyAll(classifier, BATCH);
      t.batch.push((performance.now() - t0) / texts.length);
      t0 = performance.now();
      await classifyAll(classifier, 1);
      t.single.push((performance.now() - t0) / texts.length);
    }
  }
  for (const [i, { variant, bytes }] of variants.entries()) {
    const t = times[i] as (typeof times)[number];
    const report = score(t.predicted);
    rows.push({
      name: `${model} ${variant}`,
      trainedOn,
      accuracy: report.accuracy,
      spamF1: f1Of(report, 'spam'),
      bytes,
      batchMs: median(t.batch),
      singleMs: median(t.single),
    });
  }
}

// ---- 1. the default model ---------------------------------------------------------------------------
const t0 = performance.now();
await buildTextModels(MODELS);
const buildMs = performance.now() - t0;
console.log(`default model ready in ${Math.round(buildMs)} ms (0 when it was already built)`);
// Trained on SpamAssassin's training split and the modern corpus, each of its messages that many times.
const trainedOn = train.length + MODERN_TRAIN_REPEATS * (await readModernTrain()).length;
await ours(MODELS, SPAM_MODEL.name, SPAM_MODEL.version, trainedOn);

// ---- 2. natural, and our recipe on natural's sample ----------------------------------------------------
for (const [name, Classifier, size] of [
  ['natural BayesClassifier', natural.BayesClassifier, BAYES_TRAIN],
  ['natural LogisticRegressionClassifier', natural.LogisticRegressionClassifier, LR_TRAIN],
] as const) {
  const sample = sampleOf(size);
  // fastText practice: fewer examples, more epochs. As many SGD updates as the default recipe makes on the
  // whole split, at most 100 epochs.
  const epochs = Math.min(100, Math.round((SPAM_RECIPE.training.epochs * train.length) / sample.length));
  const mine = trainTextClassifier(
    sample,
    { ...SPAM_RECIPE, training: { ...SPAM_RECIPE.training, epochs } },
    ['ham', 'spam'],
  );
  const repository = join(work, `sample-${sample.length}`);
  await writeTextClassifier(mine, { repository, name: 'spam-sample', version: '1' });
  const classifier = await TextClassifier.create(
    await createModelStore({ repository, cacheDir: join(work, 'cache') }).load('spam-sample', '1', 'fp32'),
  );
  const predicted: string[] = [];
  for (let i = 0; i < texts.length; i += BATCH) {
    for (const r of await classifier.classify(texts.slice(i, i + BATCH))) predicted.push(r.label);
  }
  const report = score(predicted);
  rows.push({
    name: `ours fp32, same ${sample.length}, ${epochs} epochs`,
    trainedOn: sample.length,
    accuracy: report.accuracy,
    spamF1: f1Of(report, 'spam'),
    singleMs: Number.NaN,
    trainMs: mine.trainMs,
  });

  const t0 = performance.now();
  const theirs = new Classifier();
  for (const m of sample) theirs.addDocument(m.text, m.label);
  theirs.train();
  const trainMs = performance.now() - t0;
  const single = await perMessage(() => texts.map((text) => String(theirs.classify(text))), NATURAL_RUNS);
  const theirReport = score(single.predicted);
  rows.push({
    name,
    trainedOn: sample.length,
    accuracy: theirReport.accuracy,
    spamF1: f1Of(theirReport, 'spam'),
    bytes: Buffer.byteLength(JSON.stringify(theirs)),
    singleMs: single.ms,
    trainMs,
  });
  console.log(`${name}: trained on ${sample.length} messages in ${Math.round(trainMs)} ms`);
}

// ---- report -------------------------------------------------------------------------------------------
const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const mib = (b?: number) => (b === undefined ? '' : `${(b / 1024 / 1024).toFixed(2)} MiB`);
const msOf = (v?: number) => (v === undefined || Number.isNaN(v) ? '' : `${v.toFixed(3)} ms`);
console.log(
  `\n${'model'.padEnd(38)}${'trained on'.padStart(11)}${'accuracy'.padStart(10)}${'spam F1'.padStart(10)}${'size'.padStart(11)}` +
    `${'batch 64 /msg'.padStart(15)}${'single /msg'.padStart(13)}${'training'.padStart(11)}`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(38)}${String(r.trainedOn).padStart(11)}${pct(r.accuracy).padStart(10)}${pct(r.spamF1).padStart(10)}` +
      `${mib(r.bytes).padStart(11)}${msOf(r.batchMs).padStart(15)}${msOf(r.singleMs).padStart(13)}` +
      `${(r.trainMs === undefined ? '' : `${(r.trainMs / 1000).toFixed(1)} s`).padStart(11)}`,
  );
}
const find = (name: string) => rows.find((r) => r.name === name) as Row;
const fp32 = find('spam-fasttext fp32');
const int8 = find('spam-fasttext int8');
console.log(
  `\nint8 vs fp32: ${((fp32.bytes as number) / (int8.bytes as number)).toFixed(2)}× smaller, ` +
    `accuracy ${((int8.accuracy - fp32.accuracy) * 100).toFixed(2)} points`,
);
const ratios = [];
for (const n of ['natural BayesClassifier', 'natural LogisticRegressionClassifier']) {
  const other = find(n);
  for (const mine of [fp32, int8]) {
    const ratio = {
      versus: n,
      ours: mine.name,
      batch64: other.singleMs / (mine.batchMs as number),
      single: other.singleMs / mine.singleMs,
    };
    ratios.push(ratio);
    console.log(
      `${n} / ${mine.name}: ${ratio.batch64.toFixed(0)}× slower per message than our batches of 64, ` +
        `${ratio.single.toFixed(0)}× slower than our single messages`,
    );
  }
}

await writeResults('text', { runs: RUNS, buildMs, rows, ratios });
await rm(work, { recursive: true, force: true });
