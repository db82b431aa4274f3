/** Evaluates a text classifier of a model repository as it is served: model store, featuriser, onnxruntime. */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadSettings } from '../../functions/core/config/env.ts';
import type { ModelStore } from '../../functions/core/model-store/types.ts';
import type { ModelRef } from '../../functions/core/tasks/types.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import { type Calibration, calibration, type ScoredExample } from './calibration.ts';
import { type ClassificationReport, classificationReport } from './classification-report.ts';
import type { LabelledText } from './dataset.ts';

/** The result of {@link evaluateServedModel}. */
export interface ServedEvaluation {
  readonly model: ModelRef;
  readonly report: ClassificationReport;
  /**
   * The label whose probability is calibrated: the model's thresholded label, else the second of two
   * labels; absent for models of more labels without a threshold.
   */
  readonly positive?: string;
  /** The decision threshold the labels were given with, when the model has one. */
  readonly threshold?: number;
  /** Each example's probability of `positive` and whether it is one. */
  readonly scored: ScoredExample[];
  /** Calibration of `scored` (10 bins). */
  readonly calibration?: Calibration;
  /** Wall-clock time of classifying every example, in ms. */
  readonly ms: number;
}

/**
 * Loads `name@version` (the given variant, else the store's choice) and classifies `examples` in batches
 * through the serving pipeline, then scores the predictions.
 */
export async function evaluateServedModel(
  store: ModelStore,
  wanted: { readonly name: string; readonly version?: string; readonly variant?: string },
  examples: readonly LabelledText[],
  batchSize = 64,
): Promise<ServedEvaluation> {
  const loaded = await store.load(wanted.name, wanted.version, wanted.variant);
  const classifier = await TextClassifier.create(loaded);
  const predicted: string[] = [];
  const positive =
    classifier.decision?.label ?? (classifier.labels.length === 2 ? classifier.labels[1] : undefined);
  const scored: ScoredExample[] = [];
  const started = performance.now();
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = examples.slice(i, i + batchSize);
    const results = await classifier.classify(batch.map((e) => e.text));
    for (const [j, result] of results.entries()) {
      predicted.push(result.label);
      if (positive !== undefined)
        scored.push({ score: result.scores[positive] ?? 0, positive: batch[j]?.label === positive });
    }
  }
  const ms = performance.now() - started;
  return {
    model: { name: loaded.manifest.name, version: loaded.manifest.version, variant: loaded.variant },
    report: classificationReport(
      examples.map((e) => e.label),
      predicted,
      classifier.labels,
    ),
    ...(positive !== undefined ? { positive, calibration: calibration(scored) } : {}),
    ...(classifier.decision ? { threshold: classifier.decision.threshold } : {}),
    scored,
    ms,
  };
}

/**
 * Publishes an evaluation as CloudWatch EMF through Powertools Metrics (stdout), with the dimensions of
 * the inference metrics (`service`, `task`, `model`, `variant`, and `dataset` when named): `Accuracy` and
 * `F1` (macro) in percent, `Examples`, `CalibrationError` (ECE, percent) where scores are calibrated; and one
 * `F1` per class with a `label` dimension more.
 */
export function publishEvaluationMetrics(task: string, evaluation: ServedEvaluation, dataset?: string): void {
  const { POWERTOOLS_METRICS_NAMESPACE: namespace, POWERTOOLS_SERVICE_NAME: serviceName } = loadSettings();
  const { model, report } = evaluation;
  const dimensions = {
    task,
    model: `${model.name}@${model.version}`,
    variant: model.variant,
    ...(dataset ? { dataset } : {}),
  };
  const metrics = new Metrics({ namespace, serviceName });
  metrics.addDimensions(dimensions);
  metrics.addMetric('Accuracy', MetricUnit.Percent, report.accuracy * 100);
  metrics.addMetric('F1', MetricUnit.Percent, report.macroF1 * 100);
  metrics.addMetric('Examples', MetricUnit.Count, report.examples);
  if (evaluation.calibration)
    metrics.addMetric('CalibrationError', MetricUnit.Percent, evaluation.calibration.ece * 100);
  metrics.publishStoredMetrics();
  for (const scores of report.perClass) {
    const perClass = new Metrics({ namespace, serviceName });
    perClass.addDimensions({ ...dimensions, label: scores.label });
    perClass.addMetric('F1', MetricUnit.Percent, scores.f1 * 100);
    perClass.publishStoredMetrics();
  }
}

/** What `npm run eval -- --save` keeps of one evaluation: enough to quote, none of the messages. */
export interface EvaluationFigures {
  readonly data?: string;
  /** `name@version`. */
  readonly model: string;
  readonly variant: string;
  readonly examples: number;
  readonly accuracy: number;
  readonly macroF1: number;
  /** For each true label, how many examples were given each label. */
  readonly confusion: Record<string, Record<string, number>>;
  readonly positive?: string;
  readonly threshold?: number;
  /** Expected calibration error of the positive label's probability (10 bins). */
  readonly ece?: number;
}

/** The figures of an evaluation, as a results file keeps them (`dataset` names the data it was run on). */
export function evaluationFigures(evaluation: ServedEvaluation, dataset?: string): EvaluationFigures {
  const { model, report } = evaluation;
  const confusion: Record<string, Record<string, number>> = {};
  for (const [i, truth] of report.labels.entries()) {
    confusion[truth] = Object.fromEntries(
      report.labels.map((label, j) => [label, report.confusion[i]?.[j] ?? 0]),
    );
  }
  return {
    ...(dataset !== undefined ? { data: dataset } : {}),
    model: `${model.name}@${model.version}`,
    variant: model.variant,
    examples: report.examples,
    accuracy: report.accuracy,
    macroF1: report.macroF1,
    confusion,
    ...(evaluation.positive !== undefined ? { positive: evaluation.positive } : {}),
    ...(evaluation.threshold !== undefined ? { threshold: evaluation.threshold } : {}),
    ...(evaluation.calibration ? { ece: evaluation.calibration.ece } : {}),
  };
}
