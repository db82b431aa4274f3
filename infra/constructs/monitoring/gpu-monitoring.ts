import { Duration } from 'aws-cdk-lib';
import {
  type Alarm,
  ComparisonOperator,
  type IMetric,
  type Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { BaseService } from 'aws-cdk-lib/aws-ecs';
import {
  HttpCodeElb,
  HttpCodeTarget,
  type IApplicationLoadBalancerMetrics,
  type IApplicationTargetGroupMetrics,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import {
  ADMISSION_METRICS,
  ERROR_STATUS_CLASSES,
  INFERENCE_METRICS,
  SOURCES,
} from '../../../functions/core/metric-names.ts';
import { atLeastOnce } from './alarms.ts';
import type { MonitoringContext } from './context.ts';
import { FIVE_MINUTES, type ServedModelDimensions } from './emf-metrics.ts';
import { graph, heading, LATENCY_PERCENTILES, latencyGraph, stagesGraph } from './widgets.ts';

/** What the monitoring reads of a GPU service (`GpuService`): its load balancer, tasks and GPU metrics. */
export interface MonitoredGpuService {
  readonly loadBalancer: { readonly metrics: IApplicationLoadBalancerMetrics };
  readonly targetGroup: { readonly metrics: IApplicationTargetGroupMetrics };
  readonly service: BaseService;
  metricGpuUtilization(): IMetric;
  metricGpuMemoryUsed(): IMetric;
}

/** How one GPU service is monitored. */
export interface GpuServiceMonitoring {
  /** Distinguishes the service's alarms, e.g. `Image` (alarms `GpuImageErrorRate`, ...). */
  readonly key: string;
  /** The service as the dashboard and alarm descriptions name it, e.g. `image`. */
  readonly name: string;
  readonly gpu: MonitoredGpuService;
  /** The models it serves, one per task. */
  readonly tasks: readonly ServedModelDimensions[];
  /** Whether the service also processes uploads (alarm `Gpu<key>UploadErrorRate`). */
  readonly uploads?: boolean;
  /** The service's minimum: fewer healthy tasks raise `Gpu<key>HealthyBelowMinimum`. */
  readonly minTasks?: number;
}

/** The service's own section: load balancer requests, 5xx and response time, GPU, tasks' CPU and memory. */
function addServiceWidgets({ dashboard }: MonitoringContext, what: string, gpu: MonitoredGpuService): void {
  const alb = gpu.targetGroup.metrics;
  const loadBalancer = gpu.loadBalancer.metrics;
  dashboard.addWidgets(
    graph(
      `${what}: requests and 5xx`,
      [loadBalancer.requestCount({ label: 'requests', period: FIVE_MINUTES })],
      [
        loadBalancer.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, {
          label: 'target 5xx',
          period: FIVE_MINUTES,
        }),
        loadBalancer.httpCodeElb(HttpCodeElb.ELB_5XX_COUNT, {
          label: 'load balancer 5xx',
          period: FIVE_MINUTES,
        }),
      ],
    ),
    graph(
      `${what}: load balancer response time`,
      LATENCY_PERCENTILES.map((statistic) =>
        alb.targetResponseTime({ statistic, label: statistic, period: FIVE_MINUTES }),
      ),
    ),
    graph(`${what}: GPU`, [gpu.metricGpuUtilization()], [gpu.metricGpuMemoryUsed()]),
    graph(
      `${what}: tasks' CPU and memory`,
      [
        gpu.service.metricCpuUtilization({ label: 'CPU %' }),
        gpu.service.metricMemoryUtilization({ label: 'memory %' }),
      ],
      [alb.healthyHostCount({ label: 'healthy tasks', period: Duration.minutes(1) })],
    ),
  );
}

/** A served task's section: EMF latency, inferences and errors per door, model load, stages, admission. */
function addTaskWidgets(
  { dashboard, emf }: MonitoringContext,
  dimensions: ServedModelDimensions,
  uploads: boolean,
): void {
  const on = `${dimensions.task} on GPU`;
  dashboard.addWidgets(
    latencyGraph(emf, dimensions, `${on}: latency`),
    graph(
      `${on}: inferences and errors`,
      [
        emf.inference(dimensions, INFERENCE_METRICS.inferences, 'Sum', 'inferences'),
        emf.inference(dimensions, INFERENCE_METRICS.items, 'Sum', 'items'),
      ],
      (uploads ? [SOURCES.http, SOURCES.upload] : [SOURCES.http]).flatMap((source) =>
        ERROR_STATUS_CLASSES.map((statusClass) =>
          emf.errors(dimensions, source, statusClass, `${source} ${statusClass}`),
        ),
      ),
    ),
    graph(
      `${on}: model load and memory`,
      [emf.inference(dimensions, INFERENCE_METRICS.modelLoadTime, 'Maximum', 'model load ms (max)')],
      [emf.inference(dimensions, INFERENCE_METRICS.memoryRss, 'Maximum', 'RSS bytes (max)')],
    ),
    stagesGraph(emf, dimensions, `${on}: stages p90`),
  );
  // Admission control (the GPU service scales on the queue wait): how full the queue runs, how long the
  // accepted waited and how many were refused with 503.
  dashboard.addWidgets(
    graph(
      `${on}: admission queue`,
      [
        emf.admission(dimensions, ADMISSION_METRICS.queueWait, 'p90', 'queue wait ms p90'),
        emf.admission(dimensions, ADMISSION_METRICS.queueWait, 'Maximum', 'queue wait ms (max)'),
      ],
      [
        emf.admission(dimensions, ADMISSION_METRICS.queueDepth, 'Maximum', 'queue depth (max)'),
        emf.admission(dimensions, ADMISSION_METRICS.shed, 'Sum', 'shed (503)'),
      ],
      12,
    ),
  );
}

/**
 * The dashboard section and alarms of one GPU service and the tasks it serves. Alarms: the EMF error rate
 * of each door (`Gpu<key>ErrorRate`, `Gpu<key>UploadErrorRate`), the load balancer's 5xx rate including
 * those it answers itself when no target is left (`Gpu<key>LoadBalancer5xxRate`), the p99 anomaly band
 * (`Gpu<key>Latency`), an unhealthy task (`Gpu<key>Unhealthy`) and fewer healthy tasks than the minimum.
 *
 * @returns the alarms that should roll a deployment of the service back: its error rates.
 */
export function monitorGpuService(context: MonitoringContext, service: GpuServiceMonitoring): Alarm[] {
  const { alarms, emf } = context;
  const { key, gpu, tasks } = service;
  const what = `GPU service ${service.name}`;
  const alb = gpu.targetGroup.metrics;
  const loadBalancer = gpu.loadBalancer.metrics;
  context.dashboard.addWidgets(
    heading(
      `## ${what}\n${tasks.map((t) => `\`${t.task}\`: \`${t.model}\`, variant \`${t.variant}\``).join(' · ')}`,
    ),
  );
  addServiceWidgets(context, what, gpu);
  for (const dimensions of tasks) addTaskWidgets(context, dimensions, service.uploads ?? false);

  const rollback = [alarms.errorRate(`Gpu${key}ErrorRate`, what, emf, tasks, SOURCES.http)];
  if (service.uploads)
    rollback.push(
      alarms.errorRate(`Gpu${key}UploadErrorRate`, `${what} uploads`, emf, tasks, SOURCES.upload),
    );
  // Load balancer totals: with no healthy target left the load balancer answers 503 itself
  // (HTTPCode_ELB_5XX_Count), which no target metric counts.
  const requests = loadBalancer.requestCount({ period: FIVE_MINUTES });
  const targetErrors = loadBalancer.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, { period: FIVE_MINUTES });
  const ownErrors = loadBalancer.httpCodeElb(HttpCodeElb.ELB_5XX_COUNT, { period: FIVE_MINUTES });
  rollback.push(
    alarms.rate(
      `Gpu${key}LoadBalancer5xxRate`,
      `${what}: more than ${alarms.thresholds.errorRatePercent}% of the load balancer's requests got a 5xx, from a target or from the load balancer itself`,
      'IF(requests > 0, 100 * (FILL(targetErrors, 0) + FILL(ownErrors, 0)) / requests, 0)',
      { requests, targetErrors, ownErrors },
      '5xx %',
    ),
  );
  alarms.latencyAnomaly(
    `Gpu${key}Latency`,
    what,
    alb.targetResponseTime({ statistic: 'p99', period: FIVE_MINUTES }) as Metric,
  );
  alarms.threshold(
    `Gpu${key}Unhealthy`,
    atLeastOnce(
      `${what}: a task fails its /v2/health/ready check`,
      alb.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      5,
    ),
  );
  const minTasks = service.minTasks ?? 0;
  if (minTasks > 0)
    alarms.threshold(`Gpu${key}HealthyBelowMinimum`, {
      alarmDescription: `${what}: fewer than ${minTasks} healthy tasks (the service's minimum) for 5 minutes`,
      metric: alb.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      threshold: minTasks,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      // No data point means no target reports at all: as bad as none healthy.
      treatMissingData: TreatMissingData.BREACHING,
    });
  return rollback;
}
