/**
 * `npm run eval`: evaluates a served model on labelled data and publishes the figures as CloudWatch EMF.
 *
 *   npm run eval [-- --task text] [--data spam-assassin,modern-mail:test] [--model name@version]
 *     [--variant int8 | --variant fp32,int8] [--repository models] [--batch 64] [--plot reliability.svg]
 *     [--save]
 *
 * For each data set (comma-separated) prints accuracy, per-class precision/recall/F1, the confusion matrix,
 * the decision threshold and the expected calibration error, then writes `Accuracy`, `F1`,
 * `CalibrationError` (and per-class `F1`) as EMF records to stdout, with the `task`, `model` and `variant`
 * dimensions of the inference metrics and a `dataset` one. Data sets: a `.jsonl` or `.csv` file,
 * `spam-assassin[:test|validation|train]` (the corpus' split, test by default) and
 * `modern-mail[:test|validation]` (the out-of-domain set of `test/data/`, whole by default). The default
 * is both test splits, side by side. `--variant` takes one variant or a comma-separated list (each data
 * set is scored with each). `--plot` writes a reliability diagram (SVG) of every data set. `--save` writes
 * the figures to `bench/results/text-eval.json`, so that documents quote the file rather than a terminal.
 * Only the `text` task has labelled evaluation so far.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeResults } from '../bench/results.ts';
import { loadSettingsOrExit } from '../functions/core/config/env.ts';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { textClassifyTask } from '../functions/text/task.ts';
import { reliabilitySvg } from './text/calibration.ts';
import { formatReport } from './text/classification-report.ts';
import { type LabelledText, readLabelledFile } from './text/dataset.ts';
import {
  type EvaluationFigures,
  evaluateServedModel,
  evaluationFigures,
  publishEvaluationMetrics,
  type ServedEvaluation,
} from './text/evaluate-model.ts';
import { readModernMail } from './text/modern-mail.ts';
import { readSpamAssassin, type Split } from './text/spam-assassin.ts';

const settings = loadSettingsOrExit('eval');
const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'text' },
    data: { type: 'string', default: 'spam-assassin,modern-mail:test' },
    plot: { type: 'string' },
    model: { type: 'string' },
    variant: { type: 'string' },
    repository: { type: 'string' },
    batch: { type: 'string', default: '64' },
    save: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`eval: ${message}`);
  process.exit(2);
}

if (values.task !== 'text' && values.task !== textClassifyTask.name) {
  fail(`--task must be "text" (${textClassifyTask.name}); other tasks have no labelled evaluation yet`);
}
const batch = Number(values.batch);
if (!Number.isInteger(batch) || batch < 1) fail('--batch must be a positive integer');

/** The examples a `--data` entry names. */
async function dataSet(data: string): Promise<LabelledText[]> {
  const [source, split] = data.split(':');
  if (source === 'spam-assassin') {
    const wanted = (split ?? 'test') as Split;
    if (!['train', 'validation', 'test'].includes(wanted))
      fail('the split must be train, validation or test');
    return (await readSpamAssassin()).filter((m) => m.split === wanted);
  }
  if (source === 'modern-mail') {
    if (split !== undefined && split !== 'validation' && split !== 'test')
      fail('the modern-mail split must be validation or test');
    return readModernMail(split);
  }
  return readLabelledFile(resolve(data));
}
const dataSets = values.data.split(',').filter((d) => d.trim());
if (dataSets.length === 0) fail('--data names no data set');

const [name = textClassifyTask.defaultModel, version] = (values.model ?? textClassifyTask.defaultModel).split(
  '@',
);
const cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-eval-'));
try {
  const store = createModelStore({
    ...(values.repository ? { repository: values.repository } : {}),
    cacheDir: settings.MODEL_CACHE_DIR ?? cacheDir,
  });
  const series: { name: string; calibration: NonNullable<ServedEvaluation['calibration']> }[] = [];
  const saved: EvaluationFigures[] = [];
  const variants = values.variant ? values.variant.split(',').map((v) => v.trim()) : [undefined];
  for (const data of dataSets) {
    const examples = await dataSet(data);
    if (examples.length === 0) fail(`no examples to evaluate in ${data}`);
    for (const variant of variants) {
      const evaluation = await evaluateServedModel(
        store,
        { name, ...(version ? { version } : {}), ...(variant ? { variant } : {}) },
        examples,
        batch,
      );
      const { model, report, ms } = evaluation;
      console.error(
        `\n== ${model.name}@${model.version} (${model.variant}) on ${data}: ${Math.round(ms)} ms`,
      );
      console.error(formatReport(report));
      if (evaluation.positive !== undefined && evaluation.calibration) {
        const rule =
          evaluation.threshold !== undefined
            ? `"${evaluation.positive}" from p >= ${evaluation.threshold.toFixed(4)}`
            : 'the most probable label';
        console.error(
          `decision: ${rule}; expected calibration error of p(${evaluation.positive}) ${evaluation.calibration.ece.toFixed(4)} (10 bins)`,
        );
        series.push({
          name: variants.length > 1 ? `${data} (${model.variant})` : data,
          calibration: evaluation.calibration,
        });
      }
      publishEvaluationMetrics(textClassifyTask.name, evaluation, data);
      saved.push(evaluationFigures(evaluation, data));
    }
  }
  if (values.save) {
    const file = await writeResults('text-eval', { evaluations: saved });
    console.error(`figures written to ${file}`);
  }
  if (values.plot) {
    if (series.length === 0) fail('--plot needs a model with a calibrated label (two labels or a threshold)');
    await writeFile(
      resolve(values.plot),
      reliabilitySvg(series, `Reliability of ${name}${version ? `@${version}` : ''}`),
    );
    console.error(`reliability diagram written to ${values.plot}`);
  }
} finally {
  await rm(cacheDir, { recursive: true, force: true });
}
