/**
 * The app's own EMF metrics as CloudWatch `Metric`s, for the dashboard and the alarms. Every name and every
 * dimension set comes from `functions/core/metric-names.ts`, which `functions/core/metrics.ts` emits from, so
 * a graph or an alarm here names exactly what the code writes (an alarm must name every dimension).
 */
import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  ADMISSION_DIMENSIONS,
  type AdmissionMetricName,
  DIMENSIONS,
  INFERENCE_DIMENSIONS,
  type InferenceDimensionValues,
  type InferenceMetricName,
  OUTCOME_DIMENSIONS,
  OUTCOME_METRICS,
  REQUEST_DIMENSIONS,
  type RequestSource,
  type StatusClass,
} from '../../../functions/core/metric-names.ts';

/** The period of every graph and alarm of the monitoring constructs. */
export const FIVE_MINUTES = Duration.minutes(5);

/**
 * The EMF dimensions of a task on one tier: `service` (`POWERTOOLS_SERVICE_NAME` of the tier), `task`
 * (`image/ocr`), `model` (`name@version`) and `variant`.
 */
export type ServedModelDimensions = InferenceDimensionValues;

/** The values of `set`, in the set's order (the order CloudFormation and the dashboard list them in). */
function dimensionsOf(
  set: readonly string[],
  values: Readonly<Record<string, string>>,
): Record<string, string> {
  return Object.fromEntries(
    set.map((name) => {
      const value = values[name];
      if (value === undefined) throw new Error(`no value for the EMF dimension ${name}`);
      return [name, value];
    }),
  );
}

/** Builds the five-minute `Metric`s of the app's EMF metrics in one namespace. */
export class EmfMetrics {
  /** @param namespace - `POWERTOOLS_METRICS_NAMESPACE` of the functions and containers. */
  constructor(readonly namespace: string) {}

  /** An inference metric (`Latency`, `Inferences`, ...) of one served model: `INFERENCE_DIMENSIONS`. */
  inference(
    dimensions: ServedModelDimensions,
    metricName: InferenceMetricName,
    statistic: string,
    label: string,
  ): Metric {
    return this.metric(metricName, dimensionsOf(INFERENCE_DIMENSIONS, dimensions), statistic, label);
  }

  /** An admission metric (`QueueWait`, ...) of one task's queue on one tier: `ADMISSION_DIMENSIONS`. */
  admission(
    dimensions: Readonly<Record<(typeof ADMISSION_DIMENSIONS)[number], string>>,
    metricName: AdmissionMetricName,
    statistic: string,
    label: string,
  ): Metric {
    return this.metric(metricName, dimensionsOf(ADMISSION_DIMENSIONS, dimensions), statistic, label);
  }

  /** `Requests` of one task, tier and door: `REQUEST_DIMENSIONS`, the error rate's denominator. */
  requests(dimensions: ServedModelDimensions, source: RequestSource): Metric {
    return this.metric(
      OUTCOME_METRICS.requests,
      dimensionsOf(REQUEST_DIMENSIONS, { ...dimensions, [DIMENSIONS.source]: source }),
      'Sum',
    );
  }

  /** `Errors` of one task, tier, door and status class: `OUTCOME_DIMENSIONS`. */
  errors(
    dimensions: ServedModelDimensions,
    source: RequestSource,
    statusClass: StatusClass,
    label?: string,
  ): Metric {
    const values = { ...dimensions, [DIMENSIONS.source]: source, [DIMENSIONS.statusClass]: statusClass };
    return this.metric(OUTCOME_METRICS.errors, dimensionsOf(OUTCOME_DIMENSIONS, values), 'Sum', label);
  }

  private metric(
    metricName: string,
    dimensionsMap: Record<string, string>,
    statistic: string,
    label?: string,
  ): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap,
      statistic,
      ...(label && { label }),
      period: FIVE_MINUTES,
    });
  }
}
