/** Evaluates a text classifier of a model repository as it is served: model store, featuriser, onnxruntime. */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadSettings } from '../../functions/core/config/env.ts';
import type { ModelStore } from '../../functions/core/model-store/types.ts';
import type { ModelRef } from '../../functions/core/tasks/types.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import { type ClassificationReport, classificationReport } from './classification-report.ts';
import type { LabelledText } from './dataset.ts';

/** The result of {@link evaluateServedModel}. */
export interface ServedEvaluation {
  readonly model: ModelRef;
  readonly report: ClassificationReport;
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
  const started = performance.now();
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = examples.slice(i, i + batchSize).map((e) => e.text);
    for (const result of await classifier.classify(batch)) predicted.push(result.label);
  }
  const ms = performance.now() - started;
  return {
    model: { name: loaded.manifest.name, version: loaded.manifest.version, variant: loaded.variant },
    report: classificationReport(
      examples.map((e) => e.label),
      predicted,
      classifier.labels,
    ),
    ms,
  };
}

/**
 * Publishes an evaluation as CloudWatch EMF through Powertools Metrics (stdout), with the dimensions of
 * the inference metrics (`service`, `task`, `model`, `variant`): `Accuracy` and `F1` (macro) in percent,
 * `Examples`; and one `F1` per class with a `label` dimension more.
 */
export function publishEvaluationMetrics(task: string, evaluation: ServedEvaluation): void {
  const { POWERTOOLS_METRICS_NAMESPACE: namespace, POWERTOOLS_SERVICE_NAME: serviceName } = loadSettings();
  const { model, report } = evaluation;
  const dimensions = { task, model: `${model.name}@${model.version}`, variant: model.variant };
  const metrics = new Metrics({ namespace, serviceName });
  metrics.addDimensions(dimensions);
  metrics.addMetric('Accuracy', MetricUnit.Percent, report.accuracy * 100);
  metrics.addMetric('F1', MetricUnit.Percent, report.macroF1 * 100);
  metrics.addMetric('Examples', MetricUnit.Count, report.examples);
  metrics.publishStoredMetrics();
  for (const scores of report.perClass) {
    const perClass = new Metrics({ namespace, serviceName });
    perClass.addDimensions({ ...dimensions, label: scores.label });
    perClass.addMetric('F1', MetricUnit.Percent, scores.f1 * 100);
    perClass.publishStoredMetrics();
  }
}
