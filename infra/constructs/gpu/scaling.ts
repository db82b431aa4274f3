/**
 * How a GPU service scales: on requests per task and the admission queue's wait (when it serves HTTP), and
 * on its upload queue's backlog per running task (when it consumes one), in both directions and from zero.
 * With several policies, Application Auto Scaling takes the one that asks for the most tasks, both out and
 * in: the backlog policy's scale-in cannot remove a task that the request policy still needs.
 */
import { Duration } from 'aws-cdk-lib';
import { AdjustmentType } from 'aws-cdk-lib/aws-applicationautoscaling';
import { MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { Ec2Service } from 'aws-cdk-lib/aws-ecs';
import type { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { ADMISSION_METRICS, DIMENSIONS } from '../../../functions/core/metric-names.ts';
import type { GpuServiceSizing } from '../../config/index.ts';
import { ADMISSION_MAX_WAIT_MS } from './server-task.ts';

/** What the scaling reads. */
export interface GpuScalingProps {
  readonly service: Ec2Service;
  readonly targetGroup: ApplicationTargetGroup;
  readonly sizing: GpuServiceSizing;
  /** The served task, e.g. `image/ocr`: the `task` dimension of its admission metrics. */
  readonly task: string;
  /** `POWERTOOLS_SERVICE_NAME` and `POWERTOOLS_METRICS_NAMESPACE` of the container. */
  readonly serviceName: string;
  readonly metricsNamespace: string;
  /** The task's upload queue, when the service consumes it. */
  readonly uploadQueue?: IQueue;
  /** Running tasks of the service (Container Insights). */
  readonly runningTasks: Metric;
}

/** Adds the service's scaling policies. */
export function scaleGpuService(props: GpuScalingProps): void {
  const { sizing } = props;
  const scaling = props.service.autoScaleTaskCount({
    minCapacity: sizing.minTasks,
    maxCapacity: sizing.maxTasks,
  });
  if (sizing.serveHttp) {
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: sizing.requestsPerTarget,
      targetGroup: props.targetGroup,
    });
    // Requests per task say little when their cost varies (a page vs a line): the admission queue says
    // how far behind the tasks are. A minute's average wait, or a full queue where any request was shed.
    const maxWait = ADMISSION_MAX_WAIT_MS;
    scaling.scaleOnMetric('QueueWait', {
      metric: admissionPressure(props),
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: maxWait / 40, change: -1 },
        { lower: maxWait / 5, change: +1 },
        { lower: maxWait / 2, change: +2 },
      ],
      cooldown: Duration.minutes(2),
    });
  }
  if (props.uploadQueue) {
    scaling.scaleOnMetric('UploadBacklog', {
      metric: uploadBacklogPerTask(props.uploadQueue, props.runningTasks, sizing.backlogPerTask),
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: sizing.backlogPerTask / 2, change: -1 },
        { lower: sizing.backlogPerTask, change: +1 },
        { lower: sizing.backlogPerTask * 5, change: +2 },
      ],
      cooldown: Duration.minutes(3),
    });
  }
}

/**
 * The admission queue's pressure (ms): the average `QueueWait` of a minute, or `ADMISSION_MAX_WAIT_MS`
 * where any request was shed (EMF of `functions/core/metric-names.ts`, dimensions service and task).
 */
function admissionPressure(props: GpuScalingProps): MathExpression {
  const period = Duration.minutes(1);
  const metric = (metricName: string, statistic: string) =>
    new Metric({
      namespace: props.metricsNamespace,
      metricName,
      dimensionsMap: { [DIMENSIONS.service]: props.serviceName, [DIMENSIONS.task]: props.task },
      statistic,
      period,
    });
  return new MathExpression({
    expression: `IF(FILL(shed, 0) > 0, ${ADMISSION_MAX_WAIT_MS}, FILL(wait, 0))`,
    usingMetrics: {
      wait: metric(ADMISSION_METRICS.queueWait, 'Average'),
      shed: metric(ADMISSION_METRICS.shed, 'Sum'),
    },
    period,
    label: 'queue wait ms (max when shedding)',
  });
}

/**
 * Upload messages (waiting and in flight) per running task. With no task running, any message counts as
 * `backlogPerTask`, so the first task starts (scale from zero). The metric ids keep the `0` suffix of the
 * multi-queue service this came from: they are part of the deployed scaling policy.
 */
function uploadBacklogPerTask(queue: IQueue, running: Metric, backlogPerTask: number): MathExpression {
  const period = Duration.minutes(1);
  const messages = 'waiting0 + FILL(inflight0, 0)';
  return new MathExpression({
    expression:
      `IF(FILL(running, 0) > 0, (${messages}) / FILL(running, 0), ` +
      `IF((${messages}) > 0, ${backlogPerTask}, 0))`,
    usingMetrics: {
      running,
      waiting0: queue.metricApproximateNumberOfMessagesVisible({ period }),
      inflight0: queue.metricApproximateNumberOfMessagesNotVisible({ period }),
    },
    label: 'upload messages per running task',
    period,
  });
}
