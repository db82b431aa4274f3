/**
 * The alarm kinds of the monitoring constructs, created in one scope and all sent to one SNS topic: rate
 * alarms on metric math, p99 anomaly bands with their detector models, the EMF error rate of a tier's door,
 * and a Lambda function's own alarm set.
 */
import type { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmProps,
  AnomalyDetectionAlarm,
  CfnAnomalyDetector,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  type Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { OUTCOME_METRICS, type RequestSource } from '../../../functions/core/metric-names.ts';
import { type EmfMetrics, FIVE_MINUTES, type ServedModelDimensions } from './emf-metrics.ts';

/** The thresholds the alarms share. */
export interface AlarmThresholds {
  /** Error rate (percent, per 5 minutes) that raises an alarm. */
  readonly errorRatePercent: number;
  /** Width of the p99 latency anomaly band in standard deviations. */
  readonly latencyBandWidth: number;
}

/**
 * Creates alarms in `scope` (the monitoring construct: their construct ids, and so their logical ids, are
 * `scope`'s children) with the topic as alarm and OK action, and keeps the list of every one created.
 */
export class MonitoringAlarms {
  /** Every alarm created, in creation order. */
  readonly all: Alarm[] = [];

  constructor(
    private readonly scope: Construct,
    private readonly topic: ITopic,
    readonly thresholds: AlarmThresholds,
  ) {}

  /** Sends `alarm` to the topic (alarm and OK) and records it. */
  add<T extends Alarm>(alarm: T): T {
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.all.push(alarm);
    return alarm;
  }

  /** A plain threshold alarm, sent to the topic. */
  threshold(id: string, props: AlarmProps): Alarm {
    return this.add(new Alarm(this.scope, id, props));
  }

  /**
   * An alarm on a percentage computed by metric math: above `errorRatePercent` in 2 of 3 five-minute
   * periods; a period without data does not breach.
   */
  rate(
    id: string,
    alarmDescription: string,
    expression: string,
    usingMetrics: Record<string, IMetric>,
    label: string,
  ): Alarm {
    return this.threshold(id, {
      alarmDescription,
      metric: new MathExpression({ expression, usingMetrics, period: FIVE_MINUTES, label }),
      threshold: this.thresholds.errorRatePercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * An alarm when `metric` (a p99 latency) rises above its anomaly detection band; the detector model is
   * declared so it starts training at deploy and the alarm uses it rather than creating its own.
   */
  latencyAnomaly(id: string, what: string, metric: Metric): void {
    const detector = new CfnAnomalyDetector(this.scope, `${id}Model`, {
      singleMetricAnomalyDetector: {
        namespace: metric.namespace,
        metricName: metric.metricName,
        stat: metric.statistic,
        dimensions: Object.entries(metric.dimensions ?? {}).map(([name, value]) => ({
          name,
          value: String(value),
        })),
      },
    });
    const alarm = new AnomalyDetectionAlarm(this.scope, `${id}Anomaly`, {
      alarmDescription: `${what}: p99 latency above its anomaly detection band (${this.thresholds.latencyBandWidth} standard deviations)`,
      metric,
      stdDevs: this.thresholds.latencyBandWidth,
      comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.node.addDependency(detector);
    this.add(alarm);
  }

  /**
   * The error-rate alarm of one door of one tier: the 5xx `Errors` of its tasks over all their `Requests`,
   * exactly as `InferenceMetrics.recordOutcome` emits them (every dimension named, as an alarm must).
   */
  errorRate(
    id: string,
    what: string,
    emf: EmfMetrics,
    tasks: readonly ServedModelDimensions[],
    source: RequestSource,
  ): Alarm {
    const usingMetrics: Record<string, IMetric> = {};
    tasks.forEach((dimensions, i) => {
      usingMetrics[`requests${i}`] = emf.requests(dimensions, source);
      usingMetrics[`errors${i}`] = emf.errors(dimensions, source, '5xx');
    });
    // A period with requests but no failure has no `Errors` data point at all: FILL counts it as 0.
    const sum = (name: string, fill: boolean) =>
      tasks.map((_, i) => (fill ? `FILL(${name}${i}, 0)` : `${name}${i}`)).join(' + ');
    const requests = tasks.length > 1 ? `(${sum('requests', false)})` : sum('requests', false);
    return this.rate(
      id,
      `${what}: more than ${this.thresholds.errorRatePercent}% of ${source} requests failed with a 5xx (EMF ${OUTCOME_METRICS.errors}/${OUTCOME_METRICS.requests})`,
      `IF(${requests} > 0, 100 * (${sum('errors', true)}) / ${requests}, 0)`,
      usingMetrics,
      '5xx %',
    );
  }

  /**
   * A Lambda function's own alarms: its error rate as Lambda counts it (crashes, timeouts, a failed init:
   * what the code cannot record), its p99 duration's anomaly band and nearness to the timeout, throttles.
   *
   * @returns the function's error-rate alarm.
   */
  lambdaFunction(id: string, what: string, fn: IFunction, timeout: Duration): Alarm {
    const invocations = fn.metricInvocations({ period: FIVE_MINUTES });
    const errors = fn.metricErrors({ period: FIVE_MINUTES });
    const errorRate = this.rate(
      `${id}FunctionErrorRate`,
      `${what}: more than ${this.thresholds.errorRatePercent}% of invocations failed in Lambda (crash, timeout, failed init)`,
      'IF(invocations > 0, 100 * errors / invocations, 0)',
      { invocations, errors },
      'error %',
    );
    const p99 = fn.metricDuration({ statistic: 'p99', period: FIVE_MINUTES }) as Metric;
    this.latencyAnomaly(`${id}Latency`, what, p99);
    this.threshold(`${id}NearTimeout`, {
      alarmDescription: `${what}: p99 duration above 80% of the ${timeout.toSeconds()} s timeout`,
      metric: p99,
      threshold: timeout.toMilliseconds() * 0.8,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.threshold(
      `${id}Throttles`,
      atLeastOnce(`${what}: invocations were throttled`, fn.metricThrottles({ period: FIVE_MINUTES })),
    );
    return errorRate;
  }
}

/** An alarm that fires on one period with `metric` at 1 or more; no data does not breach. */
export function atLeastOnce(alarmDescription: string, metric: IMetric, evaluationPeriods = 1): AlarmProps {
  return {
    alarmDescription,
    metric,
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  };
}
