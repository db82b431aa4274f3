import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { type Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type AlarmThresholds, MonitoringAlarms } from './monitoring/alarms.ts';
import { monitorApi } from './monitoring/api-monitoring.ts';
import type { MonitoringContext } from './monitoring/context.ts';
import { EmfMetrics, type ServedModelDimensions } from './monitoring/emf-metrics.ts';
import { type MonitoredGpuService, monitorGpuService } from './monitoring/gpu-monitoring.ts';
import {
  type LambdaTaskAlarms,
  type LambdaTaskMonitoring,
  monitorLambdaTask,
} from './monitoring/lambda-monitoring.ts';
import { monitorUploadQueue } from './monitoring/upload-monitoring.ts';
import type { UploadQueue } from './upload-queue.ts';

/** Props of {@link InferenceMonitoring}. */
export interface InferenceMonitoringProps extends AlarmThresholds {
  /** Namespace of the functions' and the container's EMF metrics. */
  readonly metricsNamespace: string;
  /** Who the alarm topic emails. */
  readonly alarmEmails: readonly string[];
  /** Age of the oldest waiting upload, in seconds, that raises an alarm. */
  readonly oldestUploadAgeSeconds: number;
}

/**
 * One CloudWatch dashboard for the deployment, a section per task and tier, and the alarms, all sent to one
 * KMS-encrypted SNS topic (TLS only). Each tier's section and alarms are built by a module of their own
 * under `monitoring/` (API, Lambda task, upload queue, GPU service), from shared widget, EMF metric and
 * alarm builders; every alarm and detector is this construct's child, so their logical ids stay
 * `Monitoring<alarm id>`.
 *
 * Per Lambda task: EMF latency p50/p90/p99 and stage latencies, invocations and inferences, errors and
 * throttles, cold starts and model load time, memory and CPU time; per upload queue: depth, age of the
 * oldest message, dead letters. For each GPU service: the same EMF series for its task, load balancer
 * requests, 5xx (its own and the targets') and p99, healthy targets, GPU utilisation and memory, ECS CPU and
 * memory. For the API: requests, 4xx/5xx and latency as API Gateway counts them. No accuracy widget: `npm run
 * eval` runs on a workstation, whose EMF output CloudWatch never receives.
 *
 * Alarms on what users feel: the API's 5xx rate and p99 latency (anomaly band), each function's and GPU
 * service's error rate and p99 (a `CfnAnomalyDetector` model trained on the metric, and near the timeout),
 * throttles, the GPU load balancer's 5xx including those it answers itself when no target is left, fewer
 * healthy GPU tasks than the service's minimum, an upload waiting longer than
 * `oldestUploadAgeSeconds`, a dead-letter queue that is not empty.
 *
 * The error-rate alarms (`...ErrorRate`) read the EMF outcome metrics that the code emits for every request
 * and upload (`functions/core/metric-names.ts`): `Errors` with `statusClass=5xx` over all `Requests`, per
 * task, tier (`service`) and door (`source`). Client errors (4xx) are graphed, not alarmed: a client that
 * sends broken files is not a service failure. Alongside, `...FunctionErrorRate` reads Lambda's own `Errors`
 * (crashes, timeouts, a failed init: what the code cannot record) and `Gpu...LoadBalancer5xxRate` the load balancer's
 * 5xx (a container that died or did not answer).
 */
export class InferenceMonitoring extends Construct {
  /** Where every alarm goes. */
  readonly topic: Topic;
  /** The dashboard. */
  readonly dashboard: Dashboard;
  /** Every alarm created, for tests and for wiring more actions. */
  readonly alarms: Alarm[];
  private readonly context: MonitoringContext;

  constructor(scope: Construct, id: string, props: InferenceMonitoringProps) {
    super(scope, id);
    const key = new Key(this, 'TopicKey', {
      enableKeyRotation: true,
      description: 'Encrypts the Inferlet alarm topic',
    });
    // CloudWatch alarms publish to the encrypted topic, so the service needs the key.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Alarms', {
      masterKey: key,
      enforceSSL: true,
      displayName: 'Inferlet alarms',
    });
    for (const email of props.alarmEmails) this.topic.addSubscription(new EmailSubscription(email));
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    const alarms = new MonitoringAlarms(this, this.topic, props);
    this.alarms = alarms.all;
    this.context = {
      dashboard: this.dashboard,
      alarms,
      emf: new EmfMetrics(props.metricsNamespace),
      oldestUploadAgeSeconds: props.oldestUploadAgeSeconds,
    };
  }

  /** The HTTP API's section and alarms, as API Gateway counts its requests (see `monitorApi`). */
  addApi(api: HttpApi): void {
    monitorApi(this.context, api);
  }

  /**
   * The dashboard section and alarms of a task's Lambda tier (see `monitorLambdaTask`).
   *
   * @returns the error-rate alarms of each function, which a rollout of that function watches.
   */
  addLambdaTask(task: LambdaTaskMonitoring): LambdaTaskAlarms {
    return monitorLambdaTask(this.context, task);
  }

  /** The queue widgets of a task's uploads and the alarms on its oldest waiting upload and its dead letters. */
  addUploadQueue(key: string, task: string, uploads: UploadQueue): void {
    monitorUploadQueue(this.context, key, task, uploads);
  }

  /**
   * The dashboard section and alarms of one GPU service and the task it serves (see `monitorGpuService`).
   *
   * @param key - distinguishes the service's alarms, e.g. `Image` (alarms `GpuImageErrorRate`, ...).
   * @param name - the service as the dashboard and alarm descriptions name it, e.g. `image`.
   * @param options.uploads - whether the service also processes uploads (alarm `Gpu<key>UploadErrorRate`).
   * @param options.minTasks - the service's minimum: fewer healthy tasks raise `Gpu<key>HealthyBelowMinimum`.
   * @returns the alarms that should roll a deployment of the service back: its error rates.
   */
  addGpuService(
    key: string,
    name: string,
    gpu: MonitoredGpuService,
    tasks: readonly ServedModelDimensions[],
    options: { readonly uploads?: boolean; readonly minTasks?: number } = {},
  ): Alarm[] {
    return monitorGpuService(this.context, { key, name, gpu, tasks, ...options });
  }
}
