import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { AdjustmentType } from 'aws-cdk-lib/aws-applicationautoscaling';
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceType,
  LaunchTemplate,
  Port,
  SecurityGroup,
  SubnetType,
  UserData,
  type Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  AmiHardwareType,
  AsgCapacityProvider,
  Cluster,
  ContainerImage,
  ContainerInsights,
  Ec2Service,
  Ec2TaskDefinition,
  EcsOptimizedImage,
  FirelensLogRouterType,
  LogDrivers,
  MachineImageType,
  NetworkMode,
} from 'aws-cdk-lib/aws-ecs';
import {
  type ApplicationListener,
  ApplicationLoadBalancer,
  ApplicationProtocol,
  type ApplicationTargetGroup,
  ListenerCertificate,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { ADMISSION_METRICS, DIMENSIONS } from '../../functions/core/metric-names.ts';
import type { GpuNetworkConfig, GpuServiceSizing } from '../config/index.ts';
import { acknowledge, findingPseudo } from '../nag.ts';
import type { ModelBucket } from './model-bucket.ts';
import type { UploadBucket } from './upload-bucket.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The port the server listens on in the container. */
export const SERVER_PORT = 8080;
/** The readiness route the load balancer checks: 200 once the served models are loaded. */
export const HEALTH_CHECK_PATH = '/v2/health/ready';
/** Namespace of the GPU metrics the instances' CloudWatch agent publishes. */
export const GPU_METRICS_NAMESPACE = 'CWAgent';
/**
 * The SSM parameter naming AWS for Fluent Bit's image in the stack's region (`<account>.dkr.ecr.<region>
 * .amazonaws.com/aws-for-fluent-bit:<tag>`); `stable` is the tag AWS promotes after it has run for a while.
 */
export const FLUENT_BIT_IMAGE_PARAMETER = '/aws/service/aws-for-fluent-bit/stable';
/** The ECR repository of that image; AWS publishes it from a different account in some regions. */
export const FLUENT_BIT_REPOSITORY = 'aws-for-fluent-bit';

/**
 * How long the server may take to finish accepted work on SIGTERM (`STOP_TIMEOUT_MS`), and the container's
 * ECS stop timeout after which it is killed: 5 s apart for closing the port and exiting.
 */
export const SERVER_DRAIN = Object.freeze({ drainMs: 25_000, stopTimeout: Duration.seconds(30) });
/** `ADMISSION_MAX_WAIT_MS` of the container: the longest queue wait a request is accepted for. */
export const ADMISSION_MAX_WAIT_MS = 10_000;

/** The task a GPU service serves. */
export interface GpuTask {
  /** Task name, e.g. `image/ocr`. */
  readonly task: string;
  /** The task's upload segment, `incoming/<modality>/` the service may process: the modality, or `text-embed`. */
  readonly modality: string;
  /** `MODEL_<TASK>` and its value `name@version`. */
  readonly modelVariable: string;
  readonly modelRef: string;
  /** The task's upload queue, when the service consumes it. */
  readonly uploadQueue?: IQueue;
}

/** Props of {@link GpuService}. */
export interface GpuServiceProps {
  /** The VPC; instances, tasks and the load balancer go into its private subnets. */
  readonly vpc: Vpc;
  /**
   * The ECS cluster the service and its capacity provider join (GPU services share one); without it the
   * service gets a cluster of its own.
   */
  readonly cluster?: Cluster;
  /**
   * The security group of the load balancer's callers (the API's VPC link), which may be shared by several
   * services; without it the service creates one.
   */
  readonly clientSecurityGroup?: SecurityGroup;
  /** Instance type, task counts, memory, scaling targets of this service. */
  readonly sizing: GpuServiceSizing;
  /** The load balancer's certificate, when it listens on HTTPS. */
  readonly network: Pick<GpuNetworkConfig, 'certificateArn'>;
  /** The task the container serves (`TASKS`). */
  readonly task: GpuTask;
  /** The model repository, read only. */
  readonly models: ModelBucket;
  /** Key prefix of the repository in the bucket: '' or ending in '/'. */
  readonly modelPrefix: string;
  /** The uploads bucket; the service may process the prefixes of the queues it consumes. */
  readonly uploads: UploadBucket;
  /** Receives the load balancer's access logs (the stack must have a region). */
  readonly accessLogsBucket: IBucket;
  /** Key prefix of the access logs, e.g. `gpu-alb/image`. */
  readonly accessLogsPrefix: string;
  /** `POWERTOOLS_SERVICE_NAME`, the `service` dimension of the container's metrics. */
  readonly serviceName: string;
  /** `POWERTOOLS_METRICS_NAMESPACE`. */
  readonly metricsNamespace: string;
  /** Retention of the container's logs. */
  readonly logRetention: RetentionDays;
}

/**
 * The GPU tier of one task: the same server as `npm start`, serving only that task, built from the
 * repository's `Dockerfile` (CUDA runtime, onnxruntime-node with its CUDA provider, `EXECUTION_PROVIDER=cuda`,
 * `MODEL_TIER=gpu`), one task per GPU on its own GPU instances (ECS GPU-optimised Amazon Linux 2023 AMI, NVIDIA
 * driver 580 for the CUDA 12.8 image; launch template, ASG capacity provider with managed scaling) in a cluster
 * that may be shared, behind an internal Application Load Balancer that checks `/v2/health/ready` and logs
 * every request to S3. It scales on requests per task (when it serves HTTP) and, when it consumes its task's
 * upload queue, on the backlog per running task, in both directions and from zero.
 *
 * Containers cannot reach the instance role: the tasks use `awsvpc` networking and the agent runs with
 * `ECS_AWSVPC_BLOCK_IMDS=true` (what the ECS security guide prescribes for that mode); the role itself
 * holds only what the ECS and CloudWatch agents call, images and logs go through the task execution role.
 *
 * Metrics: Powertools writes EMF to stdout only, and ECS's `awslogs` driver does not turn EMF lines into
 * metrics (CloudWatch Logs extracts them only from events sent with the `x-amzn-logs-format: json/emf`
 * header). So the server's output goes through a FireLens log router (AWS for Fluent Bit) whose
 * `cloudwatch_logs` output sets `log_format json/emf`: EMF lines become metrics, the rest stay log lines
 * in the same group. A CloudWatch agent sidecar would need the app to send EMF to its TCP port instead of
 * stdout, and its image has no `nvidia-smi`; GPU utilisation comes from the CloudWatch agent installed on
 * each instance (`nvidia_gpu` metrics, aggregated by Auto Scaling group).
 */
export class GpuService extends Construct {
  readonly cluster: Cluster;
  readonly autoScalingGroup: AutoScalingGroup;
  readonly taskDefinition: Ec2TaskDefinition;
  readonly service: Ec2Service;
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly listener: ApplicationListener;
  readonly targetGroup: ApplicationTargetGroup;
  /** Security group of whatever may call the load balancer (the API's VPC link). */
  readonly clientSecurityGroup: SecurityGroup;
  /** The server's log group (EMF lines become metrics here). */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: GpuServiceProps) {
    super(scope, id);
    const { sizing, vpc, task } = props;
    const certificateArn = props.network.certificateArn;
    const region = Stack.of(this).region;
    const privateSubnets = { subnetType: SubnetType.PRIVATE_WITH_EGRESS };

    this.cluster =
      props.cluster ?? new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });

    const instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'GPU container instances: ECS agent and CloudWatch agent',
    });
    // What the ECS agent calls for its instance. The cluster would also add ecr:GetAuthorizationToken and
    // logs:CreateLogStream/PutLogEvents on "*" (for tasks without an execution role); ours has one, so the
    // launch template gets the role without policy updates and the agent's statements are written here.
    instanceRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'],
        resources: [this.cluster.clusterArn],
      }),
    );
    instanceRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    // The instance's CloudWatch agent: GPU metrics into its namespace only; DescribeTags resolves the
    // Auto Scaling group name it aggregates by.
    instanceRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': GPU_METRICS_NAMESPACE } },
      }),
    );
    instanceRole.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ec2:DescribeTags', 'ecs:DiscoverPollEndpoint'], resources: ['*'] }),
    );

    const instanceSecurityGroup = new SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc,
      description: 'GPU container instances (tasks use their own ENIs)',
    });
    const userData = UserData.forLinux();
    userData.addCommands(...gpuInstanceSetup());
    const launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      instanceType: new InstanceType(sizing.instanceType),
      role: instanceRole.withoutPolicyUpdates(),
      securityGroup: instanceSecurityGroup,
      userData,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(100, { encrypted: true, volumeType: EbsDeviceVolumeType.GP3 }),
        },
      ],
    });
    this.autoScalingGroup = new AutoScalingGroup(this, 'Instances', {
      vpc,
      vpcSubnets: privateSubnets,
      launchTemplate,
      minCapacity: 0,
      // One task per GPU instance; one spare lets a rolling deployment start the new task first.
      maxCapacity: sizing.maxTasks + 1,
    });
    const capacity = new AsgCapacityProvider(this, 'Capacity', {
      autoScalingGroup: this.autoScalingGroup,
      // Amazon Linux 2023 joins the cluster the same way (ECS_CLUSTER in /etc/ecs/ecs.config).
      machineImageType: MachineImageType.AMAZON_LINUX_2,
      enableManagedTerminationProtection: true,
    });
    this.cluster.addAsgCapacityProvider(capacity);

    this.logGroup = new LogGroup(this, 'ServerLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const routerLogs = new LogGroup(this, 'LogRouterLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.taskDefinition = new Ec2TaskDefinition(this, 'Task', { networkMode: NetworkMode.AWS_VPC });
    const taskRole = this.taskDefinition.taskRole;
    props.models.grantReadModels(taskRole);
    this.logGroup.grantWrite(taskRole);
    const consumed = task.uploadQueue ? [task] : [];
    if (task.uploadQueue) {
      task.uploadQueue.grantConsumeMessages(taskRole);
      props.uploads.grantTaskUploads(taskRole, task.modality);
    }

    this.taskDefinition.addFirelensLogRouter('LogRouter', {
      image: this.fluentBitImage(),
      firelensConfig: { type: FirelensLogRouterType.FLUENTBIT },
      essential: true,
      memoryReservationMiB: 64,
      logging: LogDrivers.awsLogs({ logGroup: routerLogs, streamPrefix: 'log-router' }),
    });
    const server = this.taskDefinition.addContainer('server', {
      image: ContainerImage.fromAsset(PROJECT_ROOT, { file: 'Dockerfile', platform: Platform.LINUX_AMD64 }),
      gpuCount: 1,
      essential: true,
      memoryReservationMiB: sizing.memoryMiB,
      portMappings: [{ containerPort: SERVER_PORT }],
      // On a stop (scale-in, deployment), ECS sends SIGTERM and kills after this: the server drains first.
      stopTimeout: SERVER_DRAIN.stopTimeout,
      environment: {
        HOST: '0.0.0.0',
        PORT: String(SERVER_PORT),
        EMBEDDED_S3: 'off',
        AWS_REGION: region,
        MODEL_REPOSITORY: `s3://${props.models.bucket.bucketName}/${props.modelPrefix}`,
        MODEL_CACHE_DIR: '/tmp/models',
        MODEL_TIER: 'gpu',
        EXECUTION_PROVIDER: 'cuda',
        TASKS: task.task,
        [task.modelVariable]: task.modelRef,
        ...(task.uploadQueue && { UPLOAD_QUEUE_URLS: task.uploadQueue.queueUrl }),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        ADMISSION_MAX_WAIT_MS: String(ADMISSION_MAX_WAIT_MS),
        STOP_TIMEOUT_MS: String(SERVER_DRAIN.drainMs),
      },
      logging: LogDrivers.firelens({
        options: {
          Name: 'cloudwatch_logs',
          region,
          log_group_name: this.logGroup.logGroupName,
          log_stream_prefix: 'server/',
          log_key: 'log',
          log_format: 'json/emf',
          auto_create_group: 'false',
        },
      }),
    });

    this.clientSecurityGroup =
      props.clientSecurityGroup ??
      new SecurityGroup(this, 'ClientSecurityGroup', {
        vpc,
        description: 'Callers of the GPU load balancer (the API VPC link)',
        allowAllOutbound: false,
      });
    const loadBalancerSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'The internal load balancer of the GPU service',
      allowAllOutbound: false,
    });
    const serviceSecurityGroup = new SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc,
      description: 'GPU server tasks: reachable from the load balancer only',
    });
    // Only the API's VPC link reaches the load balancer, so without a certificate plain HTTP never leaves the
    // VPC; with one, the API verifies the certificate's name (gpuNetwork.serverName) and traffic is TLS end to end.
    const listenerPort = certificateArn ? 443 : 80;
    loadBalancerSecurityGroup.addIngressRule(
      this.clientSecurityGroup,
      Port.tcp(listenerPort),
      'API VPC link',
    );
    this.clientSecurityGroup.addEgressRule(
      loadBalancerSecurityGroup,
      Port.tcp(listenerPort),
      `to the load balancer of ${task.task}`,
    );
    loadBalancerSecurityGroup.addEgressRule(
      serviceSecurityGroup,
      Port.tcp(SERVER_PORT),
      'to the server tasks',
    );
    serviceSecurityGroup.addIngressRule(
      loadBalancerSecurityGroup,
      Port.tcp(SERVER_PORT),
      'from the load balancer',
    );

    this.service = new Ec2Service(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: sizing.minTasks,
      capacityProviderStrategies: [{ capacityProvider: capacity.capacityProviderName, weight: 1 }],
      securityGroups: [serviceSecurityGroup],
      vpcSubnets: privateSubnets,
      circuitBreaker: { enable: true, rollback: true },
      // Models download from S3 and the CUDA provider initialises before /v2/health/ready says 200.
      healthCheckGracePeriod: Duration.minutes(5),
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });
    // The service names the capacity provider, which must be associated with the cluster first.
    this.service.node.addDependency(this.cluster);

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      vpcSubnets: privateSubnets,
      internetFacing: false,
      securityGroup: loadBalancerSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    if (Token.isUnresolved(region))
      throw new Error(
        `${this.node.path}: a GPU service needs a stack with a region: its load balancer's access logs are ` +
          'delivered by a regional service',
      );
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, props.accessLogsPrefix);
    this.listener = certificateArn
      ? this.loadBalancer.addListener('Https', {
          port: 443,
          protocol: ApplicationProtocol.HTTPS,
          certificates: [ListenerCertificate.fromArn(certificateArn)],
          sslPolicy: SslPolicy.RECOMMENDED_TLS,
          open: false,
        })
      : this.loadBalancer.addListener('Http', { port: 80, protocol: ApplicationProtocol.HTTP, open: false });
    this.targetGroup = this.listener.addTargets('Server', {
      port: SERVER_PORT,
      protocol: ApplicationProtocol.HTTP,
      targets: [
        this.service.loadBalancerTarget({ containerName: server.containerName, containerPort: SERVER_PORT }),
      ],
      healthCheck: {
        path: HEALTH_CHECK_PATH,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      deregistrationDelay: Duration.seconds(30),
    });

    // With several policies, Application Auto Scaling takes the one that asks for the most tasks, both out
    // and in: the backlog policy's scale-in cannot remove a task that the request policy still needs.
    const scaling = this.service.autoScaleTaskCount({
      minCapacity: sizing.minTasks,
      maxCapacity: sizing.maxTasks,
    });
    if (sizing.serveHttp) {
      scaling.scaleOnRequestCount('Requests', {
        requestsPerTarget: sizing.requestsPerTarget,
        targetGroup: this.targetGroup,
      });
      // Requests per task say little when their cost varies (a page vs a line): the admission queue says
      // how far behind the tasks are. A minute's average wait, or a full queue where any request was shed.
      const maxWait = ADMISSION_MAX_WAIT_MS;
      scaling.scaleOnMetric('QueueWait', {
        metric: this.admissionPressure(props, task.task),
        adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
        scalingSteps: [
          { upper: maxWait / 40, change: -1 },
          { lower: maxWait / 5, change: +1 },
          { lower: maxWait / 2, change: +2 },
        ],
        cooldown: Duration.minutes(2),
      });
    }
    const backlog = this.uploadBacklogPerTask(consumed, sizing.backlogPerTask);
    if (backlog) {
      scaling.scaleOnMetric('UploadBacklog', {
        metric: backlog,
        adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
        scalingSteps: [
          { upper: sizing.backlogPerTask / 2, change: -1 },
          { lower: sizing.backlogPerTask, change: +1 },
          { lower: sizing.backlogPerTask * 5, change: +2 },
        ],
        cooldown: Duration.minutes(3),
      });
    }

    this.acknowledgeFindings(instanceRole);
  }

  /**
   * The admission queue's pressure (ms): the average `QueueWait` of a minute, or `ADMISSION_MAX_WAIT_MS`
   * where any request was shed (EMF of `functions/core/metric-names.ts`, dimensions service and task).
   */
  private admissionPressure(props: GpuServiceProps, task: string): MathExpression {
    const period = Duration.minutes(1);
    const metric = (metricName: string, statistic: string) =>
      new Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: props.serviceName, [DIMENSIONS.task]: task },
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

  /** GPU utilisation (percent) of the service's instances, from their CloudWatch agent. */
  metricGpuUtilization(): Metric {
    return this.gpuMetric('nvidia_smi_utilization_gpu', 'GPU utilisation %');
  }

  /** GPU memory in use (MiB) on the service's instances. */
  metricGpuMemoryUsed(): Metric {
    return this.gpuMetric('nvidia_smi_memory_used', 'GPU memory used (MiB)');
  }

  private gpuMetric(metricName: string, label: string): Metric {
    return new Metric({
      namespace: GPU_METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { AutoScalingGroupName: this.autoScalingGroup.autoScalingGroupName },
      statistic: 'Average',
      period: Duration.minutes(1),
      label,
    });
  }

  /**
   * Tasks of the service that are running, from Container Insights (enabled on the cluster): namespace
   * `ECS/ContainerInsights`, dimensions `ClusterName` and `ServiceName`.
   */
  metricRunningTasks(): Metric {
    return new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      statistic: 'Average',
      period: Duration.minutes(1),
      label: 'running tasks',
    });
  }

  /**
   * Upload messages (waiting and in flight) per running task, or nothing when the service consumes no queue.
   * With no task running, any message counts as `backlogPerTask`, so the first task starts (scale from zero).
   */
  private uploadBacklogPerTask(
    tasks: readonly GpuTask[],
    backlogPerTask: number,
  ): MathExpression | undefined {
    const queues = tasks.flatMap((task) => (task.uploadQueue ? [task.uploadQueue] : []));
    if (queues.length === 0) return undefined;
    const period = Duration.minutes(1);
    const usingMetrics: Record<string, Metric> = { running: this.metricRunningTasks() };
    queues.forEach((queue, i) => {
      usingMetrics[`waiting${i}`] = queue.metricApproximateNumberOfMessagesVisible({ period });
      usingMetrics[`inflight${i}`] = queue.metricApproximateNumberOfMessagesNotVisible({ period });
    });
    const messages = queues.map((_, i) => `waiting${i} + FILL(inflight${i}, 0)`).join(' + ');
    return new MathExpression({
      expression:
        `IF(FILL(running, 0) > 0, (${messages}) / FILL(running, 0), ` +
        `IF((${messages}) > 0, ${backlogPerTask}, 0))`,
      usingMetrics,
      label: 'upload messages per running task',
      period,
    });
  }

  /**
   * AWS for Fluent Bit from the regional ECR repository AWS publishes it in, with pulls limited to that
   * repository (`obtainDefaultFluentBitECRImage` would allow pulls from every repository).
   */
  private fluentBitImage(): ContainerImage {
    const stack = Stack.of(this);
    this.taskDefinition.addToExecutionRolePolicy(
      new PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        // The publishing account differs by region, so the account is a wildcard; the repository is not.
        resources: [`arn:${stack.partition}:ecr:${stack.region}:*:repository/${FLUENT_BIT_REPOSITORY}`],
      }),
    );
    this.taskDefinition.addToExecutionRolePolicy(
      new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    );
    return ContainerImage.fromRegistry(
      StringParameter.valueForStringParameter(this.taskDefinition, FLUENT_BIT_IMAGE_PARAMETER),
    );
  }

  private acknowledgeFindings(instanceRole: Role): void {
    acknowledge(
      instanceRole,
      ['AwsSolutions-IAM5[Resource::*]'],
      'ecs:DiscoverPollEndpoint, ec2:DescribeTags and cloudwatch:PutMetricData have no resource-level ' +
        'permissions (PutMetricData is limited to the agent namespace by the cloudwatch:namespace condition); ' +
        'ecs:Poll and ecs:StartTelemetrySession are limited to this cluster by the ecs:cluster condition.',
    );
    acknowledge(
      instanceRole,
      ['AwsSolutions-IAM5[Action::ecs:Submit*]'],
      'The ECS agent reports container, task and attachment state changes (ecs:Submit*), on this cluster only.',
    );
    if (this.taskDefinition.executionRole) {
      const { partition, region } = findingPseudo(this);
      acknowledge(
        this.taskDefinition.executionRole,
        ['AwsSolutions-IAM5[Resource::*]'],
        'ecr:GetAuthorizationToken, which every image pull starts with, has no resource-level permissions.',
      );
      acknowledge(
        this.taskDefinition.executionRole,
        [`AwsSolutions-IAM5[Resource::arn:${partition}:ecr:${region}:*:repository/${FLUENT_BIT_REPOSITORY}]`],
        'The Fluent Bit image is pulled from its one repository; the account is a wildcard because AWS ' +
          'publishes it from different accounts in different regions.',
      );
    }
    acknowledge(
      this.autoScalingGroup,
      ['AwsSolutions-AS3'],
      'Instances of this group are ECS capacity, launched and drained by the capacity provider; ECS service ' +
        'events and the dashboard cover them, scaling notifications would be noise.',
    );
    acknowledge(
      this.taskDefinition,
      ['AwsSolutions-ECS2'],
      'The environment holds configuration only (bucket, queue URLs, model names, tiers); the task role gives ' +
        'access, there are no secrets to move to Secrets Manager.',
    );
  }
}

/**
 * User data of a GPU instance: GPU support for the ECS agent, IMDS blocked for the tasks, and the CloudWatch agent publishing the
 * `nvidia_gpu` metrics (from the host's nvidia-smi) aggregated by Auto Scaling group.
 */
function gpuInstanceSetup(): string[] {
  const agentConfig = {
    agent: { metrics_collection_interval: 60 },
    metrics: {
      namespace: GPU_METRICS_NAMESPACE,
      // The agent's own placeholders, resolved on the instance.
      append_dimensions: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch agent placeholder, not a template
        AutoScalingGroupName: '${aws:AutoScalingGroupName}',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch agent placeholder, not a template
        InstanceId: '${aws:InstanceId}',
      },
      aggregation_dimensions: [['AutoScalingGroupName']],
      metrics_collected: {
        nvidia_gpu: {
          measurement: [
            'utilization_gpu',
            'utilization_memory',
            'memory_used',
            'memory_total',
            'temperature_gpu',
            'power_draw',
          ],
        },
      },
    },
  };
  const configFile = '/opt/aws/amazon-cloudwatch-agent/etc/inferlet-gpu.json';
  return [
    'echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config',
    // Tasks use awsvpc networking: the agent then keeps their network namespaces away from the instance
    // metadata service, so a container cannot take the instance role's credentials.
    'echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config',
    'dnf install -y amazon-cloudwatch-agent',
    `cat > ${configFile} <<'EOF'\n${JSON.stringify(agentConfig)}\nEOF`,
    `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${configFile}`,
  ];
}
