import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AnomalyDetectionAlarm,
  CfnAnomalyDetector,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { HttpCodeElb, HttpCodeTarget } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import {
  ADMISSION_METRICS,
  DIMENSIONS,
  INFERENCE_METRICS,
  OUTCOME_METRICS,
  type RequestSource,
  SOURCES,
  type StatusClass,
} from '../../functions/core/metric-names.ts';
import type { GpuService } from './gpu-service.ts';
import type { UploadQueue } from './upload-queue.ts';

const FIVE_MINUTES = Duration.minutes(5);

/** Props of {@link InferenceMonitoring}. */
export interface InferenceMonitoringProps {
  /** Namespace of the functions' and the container's EMF metrics. */
  readonly metricsNamespace: string;
  /** Who the alarm topic emails. */
  readonly alarmEmails: readonly string[];
  /** Error rate (percent, per 5 minutes) that raises an alarm. */
  readonly errorRatePercent: number;
  /** Width of the p99 latency anomaly band in standard deviations. */
  readonly latencyBandWidth: number;
  /** Age of the oldest waiting upload, in seconds, that raises an alarm. */
  readonly oldestUploadAgeSeconds: number;
}

/** The alarms that should stop a rollout of one Lambda task: its functions' error-rate alarms. */
export interface LambdaTaskAlarms {
  readonly http: readonly Alarm[];
  readonly upload?: readonly Alarm[];
}

/** The model dimensions of a task's EMF metrics on one tier. */
export interface ServedModelDimensions {
  /** `service` dimension: `POWERTOOLS_SERVICE_NAME` of the tier. */
  readonly service: string;
  /** Task name, e.g. `image/ocr`. */
  readonly task: string;
  /** `name@version`. */
  readonly model: string;
  readonly variant: string;
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

/** One monitored function. */
export interface MonitoredFunction {
  readonly fn: IFunction;
  /** Its timeout: p99 above 80 % of it raises an alarm whatever the anomaly band says. */
  readonly timeout: Duration;
}

/**
 * One CloudWatch dashboard for the deployment, a section per task and tier, and the alarms, all sent to one
 * KMS-encrypted SNS topic (TLS only).
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
 * (crashes, timeouts, a failed init: what the code cannot record) and `...Target5xxRate` the load balancer's
 * 5xx (a container that died or did not answer).
 */
export class InferenceMonitoring extends Construct {
  /** Where every alarm goes. */
  readonly topic: Topic;
  /** The dashboard. */
  readonly dashboard: Dashboard;
  /** Every alarm created, for tests and for wiring more actions. */
  readonly alarms: Alarm[] = [];
  private readonly props: InferenceMonitoringProps;

  constructor(scope: Construct, id: string, props: InferenceMonitoringProps) {
    super(scope, id);
    this.props = props;
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
    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
    });
  }

  /**
   * The dashboard section and alarms of the HTTP API, as API Gateway counts its requests: what callers see,
   * throttling, authorizer refusals and integration timeouts included.
   */
  addApi(api: HttpApi): void {
    const requests = api.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' });
    const serverErrors = api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' });
    this.dashboard.addWidgets(
      new TextWidget({ markdown: '## HTTP API', width: 24, height: 1 }),
      graph(
        'API requests and errors',
        [requests.with({ label: 'requests' })],
        [
          api.metricClientError({ period: FIVE_MINUTES, statistic: 'Sum', label: '4xx' }),
          serverErrors.with({ label: '5xx' }),
        ],
        12,
      ),
      graph(
        'API latency',
        ['p50', 'p90', 'p99'].map((statistic) =>
          api.metricLatency({ statistic, period: FIVE_MINUTES, label: statistic }),
        ),
        [],
        12,
      ),
    );
    this.alarm(
      this.rateAlarm(
        'Api5xxRate',
        `HTTP API: more than ${this.props.errorRatePercent}% of requests answered with a 5xx`,
        'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
        { requests, errors: serverErrors },
        '5xx %',
      ),
    );
    this.latencyAnomalyAlarm(
      'ApiLatency',
      'HTTP API',
      api.metricLatency({ statistic: 'p99', period: FIVE_MINUTES }),
    );
  }

  /**
   * The dashboard section and alarms of a task's Lambda tier.
   *
   * @returns the error-rate alarms of each function, which a rollout of that function watches.
   */
  addLambdaTask(task: LambdaTaskMonitoring): LambdaTaskAlarms {
    const { dimensions } = task;
    const functions = [
      { name: 'HTTP', ...task.http },
      ...(task.upload ? [{ name: 'upload', ...task.upload }] : []),
    ];
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `## ${dimensions.task} on Lambda\n\`${dimensions.model}\`, variant \`${dimensions.variant}\``,
        width: 24,
        height: 1,
      }),
    );
    this.dashboard.addWidgets(
      this.latencyWidget(dimensions),
      graph('Invocations and inferences', [
        ...functions.map(({ name, fn }) =>
          fn.metricInvocations({ label: `${name} invocations`, period: FIVE_MINUTES }),
        ),
        this.emf(dimensions, INFERENCE_METRICS.inferences, 'Sum', 'inferences'),
        this.emf(dimensions, INFERENCE_METRICS.items, 'Sum', 'items'),
      ]),
      graph(
        'Errors and throttles',
        functions.flatMap(({ name }) =>
          (['4xx', '5xx'] as const).map((statusClass) =>
            this.errors(dimensions, sourceOf(name), statusClass, `${name} ${statusClass}`),
          ),
        ),
        functions.flatMap(({ name, fn }) => [
          fn.metricErrors({ label: `${name} function errors`, period: FIVE_MINUTES }),
          fn.metricThrottles({ label: `${name} throttles`, period: FIVE_MINUTES }),
        ]),
      ),
      graph(
        'Cold starts and model load',
        [this.emf(dimensions, INFERENCE_METRICS.coldStart, 'Sum', 'cold starts')],
        [this.emf(dimensions, INFERENCE_METRICS.modelLoadTime, 'Maximum', 'model load ms (max)')],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Memory and CPU',
        [this.emf(dimensions, INFERENCE_METRICS.memoryRss, 'Maximum', 'RSS bytes (max)')],
        [this.emf(dimensions, INFERENCE_METRICS.cpuTime, 'Average', 'CPU ms per inference')],
      ),
      graph(
        'Lambda duration',
        functions.flatMap(({ name, fn }) =>
          ['p50', 'p99'].map((statistic) =>
            fn.metricDuration({ statistic, label: `${name} ${statistic}`, period: FIVE_MINUTES }),
          ),
        ),
      ),
      this.stagesWidget(dimensions),
    );

    const alarms: Record<string, Alarm[]> = {};
    for (const { name, fn, timeout } of functions) {
      const id = `${task.key}${name === 'HTTP' ? 'Http' : 'Upload'}`;
      const what = `${dimensions.task} ${name} function`;
      alarms[name] = [
        this.errorRateAlarm(`${id}ErrorRate`, what, [dimensions], sourceOf(name)),
        this.functionAlarms(id, what, fn, timeout),
      ];
    }
    return { http: alarms.HTTP ?? [], ...(alarms.upload && { upload: alarms.upload }) };
  }

  /** The queue widgets of a task's uploads and the alarms on its oldest waiting upload and its dead letters. */
  addUploadQueue(key: string, task: string, uploads: UploadQueue): void {
    this.dashboard.addWidgets(
      graph(
        `${task} uploads`,
        [
          uploads.queue.metricApproximateNumberOfMessagesVisible({
            label: 'waiting',
            period: Duration.minutes(1),
          }),
          uploads.queue.metricApproximateNumberOfMessagesNotVisible({
            label: 'in flight',
            period: Duration.minutes(1),
          }),
          uploads.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            label: 'dead letters',
            period: Duration.minutes(1),
            statistic: 'Maximum',
          }),
        ],
        [
          uploads.queue.metricApproximateAgeOfOldestMessage({
            label: 'oldest message age (s)',
            period: Duration.minutes(1),
          }),
        ],
        12,
      ),
    );
    this.alarm(
      new Alarm(this, `${key}DeadLetters`, {
        alarmDescription: `${task}: uploads failed repeatedly and wait in the dead-letter queue`,
        metric: uploads.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: FIVE_MINUTES,
          statistic: 'Maximum',
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    const maxAge = this.props.oldestUploadAgeSeconds;
    this.alarm(
      new Alarm(this, `${key}OldestUpload`, {
        alarmDescription: `${task}: an upload has waited more than ${maxAge} s for its consumer (none running, too few, or failing)`,
        metric: uploads.queue.metricApproximateAgeOfOldestMessage({
          period: FIVE_MINUTES,
          statistic: 'Maximum',
        }),
        threshold: maxAge,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /**
   * The dashboard section and alarms of one GPU service and the task it serves.
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
    gpu: GpuService,
    tasks: readonly ServedModelDimensions[],
    options: { readonly uploads?: boolean; readonly minTasks?: number } = {},
  ): Alarm[] {
    const alb = gpu.targetGroup.metrics;
    const loadBalancer = gpu.loadBalancer.metrics;
    const what = `GPU service ${name}`;
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `## ${what}\n${tasks.map((t) => `\`${t.task}\`: \`${t.model}\`, variant \`${t.variant}\``).join(' · ')}`,
        width: 24,
        height: 1,
      }),
    );
    this.dashboard.addWidgets(
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
        ['p50', 'p90', 'p99'].map((statistic) =>
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
    for (const dimensions of tasks) {
      this.dashboard.addWidgets(
        this.latencyWidget(dimensions, `${dimensions.task} on GPU: latency`),
        graph(
          `${dimensions.task} on GPU: inferences and errors`,
          [
            this.emf(dimensions, INFERENCE_METRICS.inferences, 'Sum', 'inferences'),
            this.emf(dimensions, INFERENCE_METRICS.items, 'Sum', 'items'),
          ],
          (options.uploads ? [SOURCES.http, SOURCES.upload] : [SOURCES.http]).flatMap((source) =>
            (['4xx', '5xx'] as const).map((statusClass) =>
              this.errors(dimensions, source, statusClass, `${source} ${statusClass}`),
            ),
          ),
        ),
        graph(
          `${dimensions.task} on GPU: model load and memory`,
          [this.emf(dimensions, INFERENCE_METRICS.modelLoadTime, 'Maximum', 'model load ms (max)')],
          [this.emf(dimensions, INFERENCE_METRICS.memoryRss, 'Maximum', 'RSS bytes (max)')],
        ),
        this.stagesWidget(dimensions, `${dimensions.task} on GPU: stages p90`),
      );
      // Admission control (the GPU service scales on the queue wait): how full the queue runs, how long the
      // accepted waited and how many were refused with 503.
      this.dashboard.addWidgets(
        graph(
          `${dimensions.task} on GPU: admission queue`,
          [
            this.admission(dimensions, ADMISSION_METRICS.queueWait, 'p90', 'queue wait ms p90'),
            this.admission(dimensions, ADMISSION_METRICS.queueWait, 'Maximum', 'queue wait ms (max)'),
          ],
          [
            this.admission(dimensions, ADMISSION_METRICS.queueDepth, 'Maximum', 'queue depth (max)'),
            this.admission(dimensions, ADMISSION_METRICS.shed, 'Sum', 'shed (503)'),
          ],
          12,
        ),
      );
    }

    const rollback = [this.errorRateAlarm(`Gpu${key}ErrorRate`, what, tasks, SOURCES.http)];
    if (options.uploads)
      rollback.push(
        this.errorRateAlarm(`Gpu${key}UploadErrorRate`, `${what} uploads`, tasks, SOURCES.upload),
      );
    // Load balancer totals: with no healthy target left the load balancer answers 503 itself
    // (HTTPCode_ELB_5XX_Count), which no target metric counts.
    const requests = loadBalancer.requestCount({ period: FIVE_MINUTES });
    const targetErrors = loadBalancer.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, {
      period: FIVE_MINUTES,
    });
    const ownErrors = loadBalancer.httpCodeElb(HttpCodeElb.ELB_5XX_COUNT, { period: FIVE_MINUTES });
    rollback.push(
      this.alarm(
        this.rateAlarm(
          `Gpu${key}LoadBalancer5xxRate`,
          `${what}: more than ${this.props.errorRatePercent}% of the load balancer's requests got a 5xx, from a target or from the load balancer itself`,
          'IF(requests > 0, 100 * (FILL(targetErrors, 0) + FILL(ownErrors, 0)) / requests, 0)',
          { requests, targetErrors, ownErrors },
          '5xx %',
        ),
      ),
    );
    this.latencyAnomalyAlarm(
      `Gpu${key}Latency`,
      what,
      alb.targetResponseTime({ statistic: 'p99', period: FIVE_MINUTES }) as Metric,
    );
    this.alarm(
      new Alarm(this, `Gpu${key}Unhealthy`, {
        alarmDescription: `${what}: a task fails its /v2/health/ready check`,
        metric: alb.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    const minTasks = options.minTasks ?? 0;
    if (minTasks > 0)
      this.alarm(
        new Alarm(this, `Gpu${key}HealthyBelowMinimum`, {
          alarmDescription: `${what}: fewer than ${minTasks} healthy tasks (the service's minimum) for 5 minutes`,
          metric: alb.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
          threshold: minTasks,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 5,
          // No data point means no target reports at all: as bad as none healthy.
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );
    return rollback;
  }

  /**
   * The error-rate alarm of one door of one tier: the 5xx `Errors` of its tasks over all their `Requests`,
   * exactly as `InferenceMetrics.recordOutcome` emits them (every dimension named, as an alarm must).
   */
  private errorRateAlarm(
    id: string,
    what: string,
    tasks: readonly ServedModelDimensions[],
    source: RequestSource,
  ): Alarm {
    const usingMetrics: Record<string, IMetric> = {};
    tasks.forEach((dimensions, i) => {
      usingMetrics[`requests${i}`] = this.requests(dimensions, source);
      usingMetrics[`errors${i}`] = this.errors(dimensions, source, '5xx');
    });
    // A period with requests but no failure has no `Errors` data point at all: FILL counts it as 0.
    const sum = (name: string, fill: boolean) =>
      tasks.map((_, i) => (fill ? `FILL(${name}${i}, 0)` : `${name}${i}`)).join(' + ');
    const requests = tasks.length > 1 ? `(${sum('requests', false)})` : sum('requests', false);
    return this.alarm(
      this.rateAlarm(
        id,
        `${what}: more than ${this.props.errorRatePercent}% of ${source} requests failed with a 5xx (EMF ${OUTCOME_METRICS.errors}/${OUTCOME_METRICS.requests})`,
        `IF(${requests} > 0, 100 * (${sum('errors', true)}) / ${requests}, 0)`,
        usingMetrics,
        '5xx %',
      ),
    );
  }

  /** @returns the function's error-rate alarm. */
  private functionAlarms(id: string, what: string, fn: IFunction, timeout: Duration): Alarm {
    const invocations = fn.metricInvocations({ period: FIVE_MINUTES });
    const errors = fn.metricErrors({ period: FIVE_MINUTES });
    const errorRate = this.alarm(
      this.rateAlarm(
        `${id}FunctionErrorRate`,
        `${what}: more than ${this.props.errorRatePercent}% of invocations failed in Lambda (crash, timeout, failed init)`,
        'IF(invocations > 0, 100 * errors / invocations, 0)',
        { invocations, errors },
        'error %',
      ),
    );
    const p99 = fn.metricDuration({ statistic: 'p99', period: FIVE_MINUTES }) as Metric;
    this.latencyAnomalyAlarm(`${id}Latency`, what, p99);
    this.alarm(
      new Alarm(this, `${id}NearTimeout`, {
        alarmDescription: `${what}: p99 duration above 80% of the ${timeout.toSeconds()} s timeout`,
        metric: p99,
        threshold: timeout.toMilliseconds() * 0.8,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    this.alarm(
      new Alarm(this, `${id}Throttles`, {
        alarmDescription: `${what}: invocations were throttled`,
        metric: fn.metricThrottles({ period: FIVE_MINUTES }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    return errorRate;
  }

  /**
   * An alarm when `metric` rises above its anomaly detection band; the detector model is declared so it
   * starts training at deploy and the alarm uses it rather than creating its own.
   */
  private latencyAnomalyAlarm(id: string, what: string, metric: Metric): void {
    const detector = new CfnAnomalyDetector(this, `${id}Model`, {
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
    const alarm = new AnomalyDetectionAlarm(this, `${id}Anomaly`, {
      alarmDescription: `${what}: p99 latency above its anomaly detection band (${this.props.latencyBandWidth} standard deviations)`,
      metric,
      stdDevs: this.props.latencyBandWidth,
      comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.node.addDependency(detector);
    this.alarm(alarm);
  }

  /**
   * An alarm on a percentage computed by metric math: above `monitoring.errorRatePercent` in 2 of 3
   * five-minute periods; a period without data does not breach.
   */
  private rateAlarm(
    id: string,
    alarmDescription: string,
    expression: string,
    usingMetrics: Record<string, IMetric>,
    label: string,
  ): Alarm {
    return new Alarm(this, id, {
      alarmDescription,
      metric: new MathExpression({ expression, usingMetrics, period: FIVE_MINUTES, label }),
      threshold: this.props.errorRatePercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  private alarm<T extends Alarm>(alarm: T): T {
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }

  private latencyWidget(
    dimensions: ServedModelDimensions,
    title = `${dimensions.task}: latency`,
  ): GraphWidget {
    return graph(
      title,
      ['p50', 'p90', 'p99'].map((statistic) =>
        this.emf(dimensions, INFERENCE_METRICS.latency, statistic, `latency ${statistic}`),
      ),
    );
  }

  private stagesWidget(
    dimensions: ServedModelDimensions,
    title = `${dimensions.task}: stages p90`,
  ): GraphWidget {
    return graph(
      title,
      [
        INFERENCE_METRICS.decodeLatency,
        INFERENCE_METRICS.preprocessLatency,
        INFERENCE_METRICS.inferenceLatency,
        INFERENCE_METRICS.postprocessLatency,
      ].map((name) => this.emf(dimensions, name, 'p90', name.replace('Latency', '').toLowerCase())),
    );
  }

  /** `Requests` of one task, tier and door: `REQUEST_DIMENSIONS` (metric-names.ts). */
  private requests(dimensions: ServedModelDimensions, source: RequestSource): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName: OUTCOME_METRICS.requests,
      dimensionsMap: {
        [DIMENSIONS.service]: dimensions.service,
        [DIMENSIONS.task]: dimensions.task,
        [DIMENSIONS.source]: source,
      },
      statistic: 'Sum',
      period: FIVE_MINUTES,
    });
  }

  /** `Errors` of one task, tier, door and status class: `OUTCOME_DIMENSIONS` (metric-names.ts). */
  private errors(
    dimensions: ServedModelDimensions,
    source: RequestSource,
    statusClass: StatusClass,
    label?: string,
  ): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName: OUTCOME_METRICS.errors,
      dimensionsMap: {
        [DIMENSIONS.service]: dimensions.service,
        [DIMENSIONS.task]: dimensions.task,
        [DIMENSIONS.source]: source,
        [DIMENSIONS.statusClass]: statusClass,
      },
      statistic: 'Sum',
      period: FIVE_MINUTES,
      ...(label && { label }),
    });
  }

  /** An admission metric of one task on one tier: `ADMISSION_DIMENSIONS` (metric-names.ts). */
  private admission(
    dimensions: ServedModelDimensions,
    metricName: (typeof ADMISSION_METRICS)[keyof typeof ADMISSION_METRICS],
    statistic: string,
    label: string,
  ): Metric {
    const { service, task } = dimensions;
    return this.metric(
      metricName,
      { [DIMENSIONS.service]: service, [DIMENSIONS.task]: task },
      statistic,
      label,
    );
  }

  private emf(
    dimensions: ServedModelDimensions,
    metricName: (typeof INFERENCE_METRICS)[keyof typeof INFERENCE_METRICS],
    statistic: string,
    label: string,
  ): Metric {
    return this.metric(metricName, { ...dimensions }, statistic, label);
  }

  /** A five-minute EMF metric of this stack's namespace. */
  private metric(
    metricName: string,
    dimensionsMap: Record<string, string>,
    statistic: string,
    label: string,
  ): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName,
      dimensionsMap,
      statistic,
      label,
      period: FIVE_MINUTES,
    });
  }
}

function sourceOf(functionName: string): RequestSource {
  return functionName === 'HTTP' ? SOURCES.http : SOURCES.upload;
}

function graph(title: string, left: IMetric[], right: IMetric[] = [], width = 6): GraphWidget {
  return new GraphWidget({ title, left, right, width, height: 6 });
}
