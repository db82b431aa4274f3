import type { Duration } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  ERROR_STATUS_CLASSES,
  INFERENCE_METRICS,
  type RequestSource,
  SOURCES,
} from '../../../functions/core/metric-names.ts';
import type { MonitoringContext } from './context.ts';
import { FIVE_MINUTES, type ServedModelDimensions } from './emf-metrics.ts';
import { graph, heading, latencyGraph, stagesGraph } from './widgets.ts';

/** One monitored function. */
export interface MonitoredFunction {
  readonly fn: IFunction;
  /** Its timeout: p99 above 80 % of it raises an alarm whatever the anomaly band says. */
  readonly timeout: Duration;
}

/** A task's Lambda functions, as the dashboard and alarms see them. */
export interface LambdaTaskMonitoring {
  /** Construct-id-safe key, e.g. `image`. */
  readonly key: string;
  readonly dimensions: ServedModelDimensions;
  readonly http: MonitoredFunction;
  /** Absent when the task's uploads go to the GPU service only. */
  readonly upload?: MonitoredFunction;
}

/** The alarms that should stop a rollout of one Lambda task: its functions' error-rate alarms. */
export interface LambdaTaskAlarms {
  readonly http: readonly Alarm[];
  readonly upload?: readonly Alarm[];
}

/** The doors of a Lambda task: its HTTP function, and its upload function when it has one. */
function doorsOf(task: LambdaTaskMonitoring) {
  return [
    { name: 'HTTP', source: SOURCES.http as RequestSource, id: 'Http', ...task.http },
    ...(task.upload
      ? [{ name: 'upload', source: SOURCES.upload as RequestSource, id: 'Upload', ...task.upload }]
      : []),
  ];
}

/**
 * The dashboard section and alarms of a task's Lambda tier: EMF latency p50/p90/p99 and stage latencies,
 * invocations and inferences, errors and throttles, cold starts and model load time, memory and CPU time,
 * Lambda's duration. Per function: the EMF error rate of its door (`<key>HttpErrorRate`,
 * `<key>UploadErrorRate`) and the function's own alarms (`...FunctionErrorRate`, `...Latency`,
 * `...NearTimeout`, `...Throttles`).
 *
 * @returns the error-rate alarms of each function, which a rollout of that function watches.
 */
export function monitorLambdaTask(
  { dashboard, alarms, emf }: MonitoringContext,
  task: LambdaTaskMonitoring,
): LambdaTaskAlarms {
  const { dimensions } = task;
  const doors = doorsOf(task);
  dashboard.addWidgets(
    heading(`## ${dimensions.task} on Lambda\n\`${dimensions.model}\`, variant \`${dimensions.variant}\``),
  );
  dashboard.addWidgets(
    latencyGraph(emf, dimensions),
    graph('Invocations and inferences', [
      ...doors.map(({ name, fn }) =>
        fn.metricInvocations({ label: `${name} invocations`, period: FIVE_MINUTES }),
      ),
      emf.inference(dimensions, INFERENCE_METRICS.inferences, 'Sum', 'inferences'),
      emf.inference(dimensions, INFERENCE_METRICS.items, 'Sum', 'items'),
    ]),
    graph(
      'Errors and throttles',
      doors.flatMap(({ name, source }) =>
        ERROR_STATUS_CLASSES.map((statusClass) =>
          emf.errors(dimensions, source, statusClass, `${name} ${statusClass}`),
        ),
      ),
      doors.flatMap(({ name, fn }) => [
        fn.metricErrors({ label: `${name} function errors`, period: FIVE_MINUTES }),
        fn.metricThrottles({ label: `${name} throttles`, period: FIVE_MINUTES }),
      ]),
    ),
    graph(
      'Cold starts and model load',
      [emf.inference(dimensions, INFERENCE_METRICS.coldStart, 'Sum', 'cold starts')],
      [emf.inference(dimensions, INFERENCE_METRICS.modelLoadTime, 'Maximum', 'model load ms (max)')],
    ),
  );
  dashboard.addWidgets(
    graph(
      'Memory and CPU',
      [emf.inference(dimensions, INFERENCE_METRICS.memoryRss, 'Maximum', 'RSS bytes (max)')],
      [emf.inference(dimensions, INFERENCE_METRICS.cpuTime, 'Average', 'CPU ms per inference')],
    ),
    graph(
      'Lambda duration',
      doors.flatMap(({ name, fn }) =>
        ['p50', 'p99'].map((statistic) =>
          fn.metricDuration({ statistic, label: `${name} ${statistic}`, period: FIVE_MINUTES }),
        ),
      ),
    ),
    stagesGraph(emf, dimensions),
  );

  const byDoor = new Map<string, Alarm[]>();
  for (const { name, source, id: door, fn, timeout } of doors) {
    const id = `${task.key}${door}`;
    const what = `${dimensions.task} ${name} function`;
    byDoor.set(source, [
      alarms.errorRate(`${id}ErrorRate`, what, emf, [dimensions], source),
      alarms.lambdaFunction(id, what, fn, timeout),
    ]);
  }
  const upload = byDoor.get(SOURCES.upload);
  return { http: byDoor.get(SOURCES.http) ?? [], ...(upload && { upload }) };
}
