/**
 * `npm run train:text`: trains a fastText-style text classifier and writes it, fp32 and int8, into a model
 * repository, then reports the size and accuracy (through onnxruntime) of each variant.
 *
 *   npm run train:text -- --data examples.jsonl --out models --name my-classifier [--version 1]
 *     [--dim 32] [--buckets 65536] [--ngrams 2] [--char-ngrams 3-4|0] [--max-tokens 4096]
 *     [--epochs 8] [--lr 0.5] [--seed 1] [--search N] [--validation file | --validation-fraction 0.1]
 *     [--clean-mail] [--dropout 0.5] [--weight-decay 1e-4] [--max-df 0.3] [--class-weights ham=3,spam=1]
 *     [--threshold LABEL:RATE]
 *
 * `--data` is a `.jsonl` file of `{"text", "label"}` or a `.csv` file with `text` and `label` columns, or
 * `spam-assassin` for the SpamAssassin corpus with its fixed train/validation split. `--search N` tries N
 * recipes on the validation split and trains the best. `--threshold spam:0.01` stores a decision threshold
 * in the manifest: the lowest at which at most that share of the validation examples of other labels is
 * given LABEL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettingsOrExit } from '../functions/core/config/env.ts';
import type { DecisionThreshold } from '../functions/core/model-store/manifest.ts';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { DEFAULT_FEATURIZER, type FeaturizerSettings } from '../functions/text/featurizer.ts';
import { SPAM_RECIPE } from './models/text.ts';
import { thresholdForFalsePositiveRate } from './text/calibration.ts';
import { formatReport } from './text/classification-report.ts';
import { holdOut, type LabelledText, labelsOf, readLabelledFile } from './text/dataset.ts';
import { evaluateServedModel } from './text/evaluate-model.ts';
import { readSpamAssassin } from './text/spam-assassin.ts';
import {
  evaluateInMemory,
  probabilitiesInMemory,
  searchRecipe,
  type TextClassifierRecipe,
  trainTextClassifier,
  writeTextClassifier,
} from './text/train-classifier.ts';

// The model store and sessions read MODEL_TIER, INFERENCE_THREADS, ...: refuse a bad one before training.
loadSettingsOrExit('train-text');
const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string', default: 'models' },
    name: { type: 'string' },
    version: { type: 'string', default: '1' },
    dim: { type: 'string' },
    buckets: { type: 'string' },
    ngrams: { type: 'string' },
    'char-ngrams': { type: 'string' },
    'max-tokens': { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    search: { type: 'string' },
    validation: { type: 'string' },
    'validation-fraction': { type: 'string', default: '0.1' },
    'clean-mail': { type: 'boolean' },
    dropout: { type: 'string' },
    'weight-decay': { type: 'string' },
    'max-df': { type: 'string' },
    'class-weights': { type: 'string' },
    threshold: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`train:text: ${message}`);
  process.exit(2);
}

function number(name: keyof typeof values, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined || typeof raw !== 'string') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    fail(`--${name} must be a ${integer ? 'non-negative integer' : 'non-negative number'}`);
  }
  return value;
}

function charNgrams(raw: string | undefined): [number, number] | undefined {
  if (raw === undefined) return undefined;
  if (raw === '0') return [0, 0];
  const match = /^(\d+)(?:-(\d+))?$/.exec(raw);
  const min = Number(match?.[1]);
  const max = Number(match?.[2] ?? match?.[1]);
  if (!match || min < 1 || max < min) fail('--char-ngrams must be MIN-MAX (e.g. 3-5), N, or 0 for none');
  return [min, max];
}

/** `{ [key]: value }`, or nothing when the value is absent (so the recipe keeps the base's). */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

if (!values.data || !values.name) fail('--data and --name are required');

const corpus = values.data === 'spam-assassin';
let train: LabelledText[];
let validation: LabelledText[];
if (corpus) {
  const messages = await readSpamAssassin();
  train = messages.filter((m) => m.split === 'train');
  validation = messages.filter((m) => m.split === 'validation');
} else if (values.validation) {
  train = await readLabelledFile(resolve(values.data));
  validation = await readLabelledFile(resolve(values.validation));
} else {
  const fraction = number('validation-fraction', false) ?? 0.1;
  if (fraction >= 1) fail('--validation-fraction must be below 1');
  ({ train, validation } = holdOut(await readLabelledFile(resolve(values.data)), fraction));
}
const labels = labelsOf([...train, ...validation]);

/** `--class-weights ham=3,spam=1`, in label order (unnamed labels weigh 1). */
function classWeights(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const weights = labels.map(() => 1);
  for (const pair of raw.split(',')) {
    const [label = '', weight] = pair.split('=');
    const at = labels.indexOf(label.trim());
    const value = Number(weight);
    if (at < 0 || !Number.isFinite(value) || value <= 0)
      fail(
        `--class-weights takes LABEL=WEIGHT pairs of the labels ${labels.join(', ')} and positive weights`,
      );
    weights[at] = value;
  }
  return weights;
}

const base = corpus
  ? SPAM_RECIPE
  : { featurizer: DEFAULT_FEATURIZER, training: { dim: 32, epochs: 8, lr: 0.5, seed: 1 } };
const featurizer: FeaturizerSettings = {
  ...base.featurizer,
  ...(values.buckets !== undefined ? { buckets: number('buckets', true) as number } : {}),
  ...(values.ngrams !== undefined ? { wordNgrams: number('ngrams', true) as number } : {}),
  ...(values['char-ngrams'] !== undefined
    ? { charNgrams: charNgrams(values['char-ngrams']) as [number, number] }
    : {}),
  ...(values['max-tokens'] !== undefined ? { maxTokens: number('max-tokens', true) as number } : {}),
  ...(values['clean-mail'] ? { version: 2 as const, cleanMail: true } : {}),
};
if (featurizer.wordNgrams !== 1 && featurizer.wordNgrams !== 2) fail('--ngrams must be 1 or 2');
if (featurizer.buckets < 1 || featurizer.buckets >= 2 ** 31) fail('--buckets must be from 1 to 2^31 - 1');
let recipe: TextClassifierRecipe = {
  featurizer,
  training: {
    dim: number('dim', true) ?? base.training.dim,
    epochs: number('epochs', true) ?? base.training.epochs,
    lr: number('lr', false) ?? base.training.lr,
    seed: number('seed', true) ?? base.training.seed,
    ...optional('dropout', number('dropout', false)),
    ...optional('weightDecay', number('weight-decay', false)),
    ...optional('maxDocumentFrequency', number('max-df', false)),
    ...optional('classWeights', classWeights(values['class-weights'])),
  },
};
if ((recipe.training.dropout ?? 0) >= 1) fail('--dropout must be below 1');
console.log(
  `${train.length} training and ${validation.length} validation examples; labels ${labels.join(', ')}`,
);

const trials = number('search', true) ?? 0;
if (trials > 0) {
  const search = searchRecipe(train, validation, recipe, trials, (trial, i) =>
    console.log(
      `trial ${i + 1}/${trials}: accuracy ${(trial.accuracy * 100).toFixed(2)} %  macro F1 ${(trial.macroF1 * 100).toFixed(2)} %  ` +
        `${Math.round(trial.trainMs)} ms  ${JSON.stringify({ ...trial.recipe.training, wordNgrams: trial.recipe.featurizer.wordNgrams, charNgrams: trial.recipe.featurizer.charNgrams })}`,
    ),
  );
  recipe = search.best;
  console.log(`best recipe: ${JSON.stringify(recipe)}`);
}

const model = trainTextClassifier(train, recipe, labels);
console.log(`trained in ${Math.round(model.trainMs)} ms`);
let decision: DecisionThreshold | undefined;
if (values.threshold !== undefined) {
  const [label = '', rate = ''] = values.threshold.split(':');
  const share = Number(rate);
  const at = labels.indexOf(label);
  if (at < 0 || !Number.isFinite(share) || share < 0 || share >= 1)
    fail(`--threshold must be LABEL:RATE with LABEL one of ${labels.join(', ')} and 0 <= RATE < 1`);
  const others = validation.filter((e) => e.label !== label);
  if (others.length === 0) fail('--threshold needs validation examples of other labels');
  const scores = probabilitiesInMemory(
    model,
    others.map((e) => e.text),
  ).map((p) => p[at] as number);
  const threshold = Math.min(
    0.999999,
    Math.ceil(thresholdForFalsePositiveRate(scores, share, 1 / labels.length) * 1e6) / 1e6,
  );
  decision = {
    label,
    threshold,
    rationale: `at most ${share * 100} % of ${others.length} validation examples of other labels given "${label}"`,
  };
  console.log(`threshold for "${label}": ${threshold}`);
}
const repository = resolve(values.out);
const manifest = await writeTextClassifier(model, {
  repository,
  name: values.name,
  version: values.version,
  ...(decision ? { decision } : {}),
});
console.log(`wrote ${manifest.name}@${manifest.version} to ${repository}`);

const scored = validation.length > 0 ? validation : train;
if (validation.length === 0)
  console.log('(no validation examples: the figures below are on the training data)');
else
  console.log(
    `validation, in memory (fp32): accuracy ${(evaluateInMemory(model, validation).accuracy * 100).toFixed(2)} %`,
  );
const cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-train-'));
try {
  const store = createModelStore({ repository, cacheDir });
  for (const variant of Object.keys(manifest.variants)) {
    const file = manifest.variants[variant]?.file;
    const bytes = manifest.files.find((f) => f.path === file)?.bytes ?? 0;
    const evaluation = await evaluateServedModel(
      store,
      { name: manifest.name, version: manifest.version, variant },
      scored,
    );
    console.log(`\n== ${variant}: ${file}, ${(bytes / 1024 / 1024).toFixed(2)} MiB (${bytes} bytes)`);
    console.log(formatReport(evaluation.report));
  }
} finally {
  await rm(cacheDir, { recursive: true, force: true });
}
