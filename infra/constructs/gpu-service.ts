/**
 * The GPU tier of one task, composed from one module per concern: its instances (`gpu/capacity.ts`), its
 * task definition and server image (`gpu/server-task.ts`), its scaling (`gpu/scaling.ts`), and here the
 * ECS service behind its internal load balancer. The parts are functions that build into this construct
 * rather than child constructs: the resources keep the logical IDs they were deployed with.
 */
import { Duration, Stack, Token } from 'aws-cdk-lib';
import type { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Port, SecurityGroup, SubnetType, type Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerInsights, Ec2Service, type Ec2TaskDefinition } from 'aws-cdk-lib/aws-ecs';
import {
  type ApplicationListener,
  ApplicationLoadBalancer,
  ApplicationProtocol,
  type ApplicationTargetGroup,
  ListenerCertificate,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { GpuNetworkConfig, GpuServiceSizing } from '../config/index.ts';
import { addGpuCapacity, GPU_METRICS_NAMESPACE } from './gpu/capacity.ts';
import { scaleGpuService } from './gpu/scaling.ts';
import { addServerTask, SERVER_PORT } from './gpu/server-task.ts';
import type { ModelBucket } from './model-bucket.ts';
import type { UploadBucket } from './upload-bucket.ts';

export { GPU_METRICS_NAMESPACE } from './gpu/capacity.ts';
export {
  ADMISSION_MAX_WAIT_MS,
  FLUENT_BIT_IMAGE_PARAMETER,
  FLUENT_BIT_REPOSITORY,
  GPU_IMAGES,
  type GpuImage,
  SERVER_DRAIN,
  SERVER_PORT,
} from './gpu/server-task.ts';

/** The readiness route the load balancer checks: 200 once the served models are loaded and warmed. */
export const HEALTH_CHECK_PATH = '/v2/health/ready';

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
  /** Instance type, server image, task counts, memory, scaling targets of this service. */
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
 * repository's `Dockerfile` (onnxruntime-node's bundled WebGPU provider on Debian's Vulkan loader,
 * `EXECUTION_PROVIDER=auto`, `MODEL_TIER=gpu`; `Dockerfile.cuda` with `image: 'cuda'`), one task per GPU on
 * its own GPU instances (ECS GPU-optimised Amazon Linux 2023 AMI; launch template, ASG capacity provider with
 * managed scaling) in a cluster that may be shared, behind an internal Application Load Balancer that checks
 * `/v2/health/ready` (200 once the models are loaded and their GPU shapes warmed) and logs every request to
 * S3. It scales on requests per task (when it serves HTTP) and, when it consumes its task's upload queue, on
 * the backlog per running task, in both directions and from zero.
 *
 * Containers cannot reach the instance role: the tasks use `awsvpc` networking and the agent runs with
 * `ECS_AWSVPC_BLOCK_IMDS=true` (what the ECS security guide prescribes for that mode). GPU utilisation comes
 * from the CloudWatch agent installed on each instance (`nvidia_gpu` metrics, aggregated by Auto Scaling
 * group); the server's EMF goes through a FireLens log router.
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
    const capacity = addGpuCapacity(this, { vpc, cluster: this.cluster, sizing });
    this.autoScalingGroup = capacity.autoScalingGroup;

    const serverTask = addServerTask(this, {
      image: sizing.image,
      memoryMiB: sizing.memoryMiB,
      modelRepository: `s3://${props.models.bucket.bucketName}/${props.modelPrefix}`,
      environment: {
        TASKS: task.task,
        [task.modelVariable]: task.modelRef,
        ...(task.uploadQueue && { UPLOAD_QUEUE_URLS: task.uploadQueue.queueUrl }),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
      },
      logRetention: props.logRetention,
    });
    this.taskDefinition = serverTask.taskDefinition;
    this.logGroup = serverTask.logGroup;
    const taskRole = this.taskDefinition.taskRole;
    props.models.grantReadModels(taskRole);
    this.logGroup.grantWrite(taskRole);
    if (task.uploadQueue) {
      task.uploadQueue.grantConsumeMessages(taskRole);
      props.uploads.grantTaskUploads(taskRole, task.modality);
    }

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
      capacityProviderStrategies: [
        { capacityProvider: capacity.capacityProvider.capacityProviderName, weight: 1 },
      ],
      securityGroups: [serviceSecurityGroup],
      vpcSubnets: privateSubnets,
      circuitBreaker: { enable: true, rollback: true },
      // Models download from S3, and on a GPU each served shape compiles, before /v2/health/ready says 200.
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
        this.service.loadBalancerTarget({
          containerName: serverTask.server.containerName,
          containerPort: SERVER_PORT,
        }),
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

    scaleGpuService({
      service: this.service,
      targetGroup: this.targetGroup,
      sizing,
      task: task.task,
      serviceName: props.serviceName,
      metricsNamespace: props.metricsNamespace,
      ...(task.uploadQueue && { uploadQueue: task.uploadQueue }),
      runningTasks: this.metricRunningTasks(),
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
}
