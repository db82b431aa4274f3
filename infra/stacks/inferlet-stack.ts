import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { VpcLink } from 'aws-cdk-lib/aws-apigatewayv2';
import { LambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import { SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { AlarmBehavior, Cluster, ContainerInsights } from 'aws-cdk-lib/aws-ecs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_METRICS_NAMESPACE } from '../../functions/core/metric-names.ts';
import { GpuService } from '../constructs/gpu-service.ts';
import { InferenceApi } from '../constructs/inference-api.ts';
import { InferenceFunction } from '../constructs/inference-function.ts';
import { ModelBucket } from '../constructs/model-bucket.ts';
import { ModelPublication } from '../constructs/model-publication.ts';
import { InferenceMonitoring } from '../constructs/monitoring.ts';
import { NativeLayers, type NativeLayersProps } from '../constructs/native-layers.ts';
import { Network } from '../constructs/network.ts';
import { UploadBucket, type UploadRoute } from '../constructs/upload-bucket.ts';
import { UploadQueue } from '../constructs/upload-queue.ts';
import type { Deployment, TaskDeployment } from '../deployment.ts';

/** `POWERTOOLS_SERVICE_NAME` of each tier: the `service` dimension that tells the tiers' metrics apart. */
export const SERVICE_NAMES = Object.freeze({ lambda: 'inferlet-lambda', gpu: 'inferlet-gpu' });
/** Namespace of the EMF metrics. */
export const METRICS_NAMESPACE = DEFAULT_METRICS_NAMESPACE;
/** CodeDeploy's configuration of each `rollout.lambda` value. */
const LAMBDA_DEPLOYMENT_CONFIGS = Object.freeze({
  canary10Percent15Minutes: LambdaDeploymentConfig.CANARY_10PERCENT_15MINUTES,
  canary10Percent5Minutes: LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  linear10PercentEvery1Minute: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
  allAtOnce: LambdaDeploymentConfig.ALL_AT_ONCE,
});
/** How long a GPU-only upload queue hides a received message. */
const GPU_VISIBILITY_TIMEOUT = Duration.minutes(15);

/** Props of {@link InferletStack}. */
export interface InferletStackProps extends StackProps {
  /** The validated, resolved configuration (`loadConfig` + `resolveDeployment`). */
  readonly deployment: Deployment;
  /** The local model repository, published to the models bucket when `storage.publishModels` is on. */
  readonly repositoryDir: string;
  /** How the native layers are built; tests pass builders that write to a temporary folder. */
  readonly nativeLayers?: NativeLayersProps;
}

/** A task's Lambda functions. */
export interface LambdaTaskFunctions {
  readonly http: InferenceFunction;
  /** Absent when only the GPU service consumes the task's uploads. */
  readonly upload?: InferenceFunction;
}

/**
 * The whole deployment: storage (models, uploads), the Lambda tier per task behind one HTTP API, the upload
 * queues, a GPU service per task that asks for one (sharing a VPC, an ECS cluster and a VPC link), and
 * monitoring. It only wires the constructs together.
 */
export class InferletStack extends Stack {
  readonly models: ModelBucket;
  readonly modelPublication?: ModelPublication;
  readonly uploads: UploadBucket;
  readonly nativeLayers?: NativeLayers;
  readonly api: InferenceApi;
  readonly monitoring: InferenceMonitoring;
  /** Upload queues by task key (`image`, `text-embed`, ...). */
  readonly uploadQueues = new Map<string, UploadQueue>();
  /** Lambda functions by task key. */
  readonly lambdaTasks = new Map<string, LambdaTaskFunctions>();
  readonly network?: Network;
  /** The ECS cluster the GPU services share. */
  readonly gpuCluster?: Cluster;
  /** GPU services by task key, one per task with a `gpu` tier. */
  readonly gpuServices = new Map<string, GpuService>();

  constructor(scope: Construct, id: string, props: InferletStackProps) {
    super(scope, id, props);
    const { config, tasks } = props.deployment;
    const logRetention = config.monitoring.logRetentionDays as RetentionDays;
    const modelPrefix = config.storage.modelPrefix;

    this.models = new ModelBucket(this, 'Models');
    if (config.storage.publishModels) {
      this.modelPublication = new ModelPublication(this, 'ModelPublication', {
        models: this.models,
        repositoryDir: props.repositoryDir,
        prefix: modelPrefix,
        logRetention,
      });
    }
    this.uploads = new UploadBucket(this, 'Uploads', {
      accessLogsBucket: this.models.accessLogsBucket,
      lifecycle: config.storage.uploads,
    });
    this.api = new InferenceApi(this, 'Api', {
      auth: config.api.auth,
      throttle: config.api.throttle,
      logRetention,
    });
    this.monitoring = new InferenceMonitoring(this, 'Monitoring', {
      metricsNamespace: METRICS_NAMESPACE,
      alarmEmails: config.monitoring.alarmEmails,
      errorRatePercent: config.monitoring.errorRatePercent,
      latencyBandWidth: config.monitoring.latencyBandWidth,
      oldestUploadAgeSeconds: config.monitoring.oldestUploadAgeSeconds,
    });
    this.monitoring.addApi(this.api.api);
    if (tasks.some((task) => task.lambda)) {
      this.nativeLayers = new NativeLayers(this, 'NativeLayers', props.nativeLayers);
    }

    const uploadRoutes: UploadRoute[] = [];
    for (const task of tasks) {
      const name = pascal(task.key);
      const consumers = new Set(task.uploads.consumers);
      const uploadQueue = new UploadQueue(this, `${name}Uploads`, {
        visibilityTimeout:
          task.lambda && consumers.has('lambda')
            ? Duration.seconds(6 * task.lambda.upload.timeoutSeconds)
            : GPU_VISIBILITY_TIMEOUT,
        maxReceiveCount: task.uploads.maxReceiveCount,
      });
      this.uploadQueues.set(task.key, uploadQueue);
      uploadRoutes.push({
        modality: task.descriptor.modality,
        path: task.uploadPath,
        queue: uploadQueue.queue,
      });
      this.monitoring.addUploadQueue(name, task.task, uploadQueue);
      if (task.lambda) this.lambdaTasks.set(task.key, this.addLambdaTask(task, name, uploadQueue, props));
    }
    this.uploads.routeUploads(uploadRoutes);

    const gpuTasks = tasks.filter((task) => task.gpu);
    if (gpuTasks.length > 0) {
      const network = config.gpuNetwork;
      this.network = new Network(this, 'Network', { natGateways: network.natGateways, logRetention });
      const vpc = this.network.vpc;
      this.gpuCluster = new Cluster(this, 'GpuCluster', {
        vpc,
        containerInsightsV2: ContainerInsights.ENABLED,
      });
      const clientSecurityGroup = new SecurityGroup(this, 'GpuClientSecurityGroup', {
        vpc,
        description: 'Callers of the GPU load balancers (the API VPC link)',
        allowAllOutbound: false,
      });
      const vpcLink = new VpcLink(this, 'GpuVpcLink', {
        vpc,
        subnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [clientSecurityGroup],
      });
      for (const task of gpuTasks) {
        const gpu = task.gpu;
        if (!gpu) continue;
        const name = pascal(task.key);
        const { model, ...sizing } = gpu;
        const consumesUploads = task.uploads.consumers.includes('gpu');
        const service = new GpuService(this, `Gpu${name}`, {
          vpc,
          cluster: this.gpuCluster,
          clientSecurityGroup,
          sizing,
          network,
          task: {
            task: task.task,
            modality: task.uploadPath,
            modelVariable: task.modelVariable,
            modelRef: model.ref,
            ...(consumesUploads && { uploadQueue: this.uploadQueues.get(task.key)?.queue }),
          },
          models: this.models,
          modelPrefix,
          uploads: this.uploads,
          accessLogsBucket: this.models.accessLogsBucket,
          accessLogsPrefix: `gpu-alb/${task.key}`,
          serviceName: SERVICE_NAMES.gpu,
          metricsNamespace: METRICS_NAMESPACE,
          logRetention,
        });
        this.gpuServices.set(task.key, service);
        if (consumesUploads)
          this.uploads.acknowledgeTaskUploads(service.taskDefinition.taskRole, [task.uploadPath]);
        this.models.acknowledgeModelReads(service.taskDefinition.taskRole);
        if (this.modelPublication) service.service.node.addDependency(this.modelPublication);
        if (gpu.serveHttp) {
          this.api.addGpuService(`Gpu${name}`, task.key, service.listener, vpcLink, network.serverName);
          new CfnOutput(this, `Gpu${name}Endpoint`, { value: `${this.api.url}gpu/${task.key}/` });
        }
        const rollback = this.monitoring.addGpuService(
          name,
          task.key,
          service,
          [{ service: SERVICE_NAMES.gpu, task: task.task, model: model.ref, variant: model.variant }],
          { uploads: consumesUploads, minTasks: gpu.minTasks },
        );
        // A new task definition that raises these rolls back, as the circuit breaker does for tasks that
        // do not start.
        service.service.enableDeploymentAlarms(
          rollback.map((alarm) => alarm.alarmName),
          { behavior: AlarmBehavior.ROLLBACK_ON_ALARM },
        );
      }
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'ModelRepository', { value: `s3://${this.models.bucket.bucketName}/${modelPrefix}` });
    new CfnOutput(this, 'UploadsBucket', { value: this.uploads.bucket.bucketName });
    new CfnOutput(this, 'AlarmTopic', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'Dashboard', { value: this.monitoring.dashboard.dashboardName });
  }

  private addLambdaTask(
    task: TaskDeployment,
    name: string,
    uploadQueue: UploadQueue,
    props: InferletStackProps,
  ): LambdaTaskFunctions {
    const lambda = task.lambda;
    const layers = this.nativeLayers;
    if (!lambda || !layers) throw new Error(`task ${task.task} has no Lambda tier`);
    const { config } = props.deployment;
    const common = {
      models: this.models,
      modelPrefix: config.storage.modelPrefix,
      layers: layers.forPackages(task.descriptor.nativePackages),
      serviceName: SERVICE_NAMES.lambda,
      metricsNamespace: METRICS_NAMESPACE,
      logRetention: config.monitoring.logRetentionDays as RetentionDays,
    };
    const modelEnvironment = { [task.modelVariable]: lambda.model.ref };
    const http = new InferenceFunction(this, `${name}Http`, {
      ...common,
      entry: task.httpEntry,
      description: `${task.task} over HTTP (${lambda.model.ref}, ${lambda.model.variant})`,
      memorySize: lambda.http.memoryMb,
      timeout: Duration.seconds(lambda.http.timeoutSeconds),
      reservedConcurrency: lambda.http.reservedConcurrency,
      provisionedConcurrency: lambda.http.provisionedConcurrency,
      environment: modelEnvironment,
    });
    this.api.addLambdaTask(name, { route: task.route, models: lambda.model.served, handler: http.target });

    let upload: InferenceFunction | undefined;
    if (task.uploads.consumers.includes('lambda')) {
      upload = new InferenceFunction(this, `${name}Upload`, {
        ...common,
        entry: task.uploadEntry,
        description: `${task.task} of uploads under incoming/${task.uploadPath}/ (${lambda.model.ref}, ${lambda.model.variant})`,
        memorySize: lambda.upload.memoryMb,
        timeout: Duration.seconds(lambda.upload.timeoutSeconds),
        reservedConcurrency: lambda.upload.reservedConcurrency,
        provisionedConcurrency: lambda.upload.provisionedConcurrency,
        environment: {
          ...modelEnvironment,
          MAX_UPLOAD_BYTES: String(task.uploads.maxUploadBytes),
          UPLOAD_CONCURRENCY: '1',
        },
      });
      this.uploads.grantTaskUploads(upload.role, task.uploadPath);
      this.uploads.acknowledgeTaskUploads(upload.role, [task.uploadPath]);
      uploadQueue.addLambdaConsumer(upload.target, {
        batchSize: lambda.upload.batchSize,
        maxConcurrency: lambda.upload.maxConcurrency,
      });
    }
    // The functions start loading their model during init: the repository must be there first.
    if (this.modelPublication) {
      http.node.addDependency(this.modelPublication);
      upload?.node.addDependency(this.modelPublication);
    }

    const alarms = this.monitoring.addLambdaTask({
      key: name,
      dimensions: {
        service: SERVICE_NAMES.lambda,
        task: task.task,
        model: lambda.model.ref,
        variant: lambda.model.variant,
      },
      http: { fn: http.function, timeout: Duration.seconds(lambda.http.timeoutSeconds) },
      ...(upload && {
        upload: { fn: upload.function, timeout: Duration.seconds(lambda.upload.timeoutSeconds) },
      }),
    });
    const shift = LAMBDA_DEPLOYMENT_CONFIGS[config.rollout.lambda];
    http.rollOut(shift, alarms.http);
    if (upload && alarms.upload) upload.rollOut(shift, alarms.upload);
    return { http, ...(upload && { upload }) };
  }
}

/** A task key as a construct id and alarm-name part: `image` -> `Image`, `text-embed` -> `TextEmbed`. */
export function pascal(key: string): string {
  return key
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
