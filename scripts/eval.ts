/**
 * `npm run eval`: evaluates a served model on labelled data and publishes the figures as CloudWatch EMF.
 *
 *   npm run eval -- --task text --data test.jsonl [--model name@version] [--variant int8]
 *     [--repository models] [--batch 64]
 *
 * Prints accuracy, per-class precision/recall/F1 and the confusion matrix, then writes `Accuracy` and `F1`
 * (and per-class `F1`) as EMF records to stdout, with the `task`, `model` and `variant` dimensions of the
 * inference metrics. `--data spam-assassin` evaluates on the SpamAssassin test split (`spam-assassin:validation`
 * on its validation split). Only the `text` task has labelled evaluation so far.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettingsOrExit } from '../functions/core/config/env.ts';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { textClassifyTask } from '../functions/text/task.ts';
import { formatReport } from './text/classification-report.ts';
import { type LabelledText, readLabelledFile } from './text/dataset.ts';
import { evaluateServedModel, publishEvaluationMetrics } from './text/evaluate-model.ts';
import { readSpamAssassin, type Split } from './text/spam-assassin.ts';

const settings = loadSettingsOrExit('eval');
const { values } = parseArgs({
  options: {
    task: { type: 'string' },
    data: { type: 'string' },
    model: { type: 'string' },
    variant: { type: 'string' },
    repository: { type: 'string' },
    batch: { type: 'string', default: '64' },
  },
});

function fail(message: string): never {
  console.error(`eval: ${message}`);
  process.exit(2);
}

if (values.task !== 'text' && values.task !== textClassifyTask.name) {
  fail(`--task must be "text" (${textClassifyTask.name}); other tasks have no labelled evaluation yet`);
}
if (!values.data)
  fail('--data is required: a .jsonl or .csv file of text and label, or spam-assassin[:split]');
const batch = Number(values.batch);
if (!Number.isInteger(batch) || batch < 1) fail('--batch must be a positive integer');

let examples: LabelledText[];
if (values.data.startsWith('spam-assassin')) {
  const split = (values.data.split(':')[1] ?? 'test') as Split;
  if (!['train', 'validation', 'test'].includes(split)) fail('the split must be train, validation or test');
  examples = (await readSpamAssassin()).filter((m) => m.split === split);
} else {
  examples = await readLabelledFile(resolve(values.data));
}
if (examples.length === 0) fail('no examples to evaluate');

const [name = textClassifyTask.defaultModel, version] = (values.model ?? textClassifyTask.defaultModel).split(
  '@',
);
const cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-eval-'));
try {
  const store = createModelStore({
    ...(values.repository ? { repository: values.repository } : {}),
    cacheDir: settings.MODEL_CACHE_DIR ?? cacheDir,
  });
  const evaluation = await evaluateServedModel(
    store,
    { name, ...(version ? { version } : {}), ...(values.variant ? { variant: values.variant } : {}) },
    examples,
    batch,
  );
  const { model, report, ms } = evaluation;
  console.error(`${model.name}@${model.version} (${model.variant}) on ${values.data}: ${Math.round(ms)} ms`);
  console.error(formatReport(report));
  publishEvaluationMetrics(textClassifyTask.name, evaluation);
} finally {
  await rm(cacheDir, { recursive: true, force: true });
}
