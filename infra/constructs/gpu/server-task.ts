/**
 * The GPU service's task definition: the server container (the repository's WebGPU `Dockerfile` by
 * default, `Dockerfile.cuda` as the option), its FireLens log router and their log groups.
 *
 * Metrics: Powertools writes EMF to stdout only, and ECS's `awslogs` driver does not turn EMF lines into
 * metrics (CloudWatch Logs extracts them only from events sent with the `x-amzn-logs-format: json/emf`
 * header). So the server's output goes through a FireLens log router (AWS for Fluent Bit) whose
 * `cloudwatch_logs` output sets `log_format json/emf`: EMF lines become metrics, the rest stay log lines in
 * the same group.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  type ContainerDefinition,
  ContainerImage,
  Ec2TaskDefinition,
  FirelensLogRouterType,
  LogDrivers,
  NetworkMode,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { acknowledge, findingPseudo } from '../../nag.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The port the server listens on in the container. */
export const SERVER_PORT = 8080;
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

/**
 * The server image: `webgpu` (default) is `Dockerfile`, onnxruntime-node's bundled WebGPU provider on
 * Debian's Vulkan loader, built from npm and Debian packages alone; `cuda` is `Dockerfile.cuda`, the CUDA
 * runtime with onnxruntime's CUDA provider, downloaded at build time (~230 MB).
 */
export type GpuImage = 'webgpu' | 'cuda';

/** The Dockerfile and the execution provider of each image. */
export const GPU_IMAGES: Readonly<Record<GpuImage, { readonly file: string; readonly provider: string }>> = {
  // auto: each model on the provider that ran its served shapes fastest at start (docs/gpu.md).
  webgpu: { file: 'Dockerfile', provider: 'auto' },
  cuda: { file: 'Dockerfile.cuda', provider: 'cuda' },
};

/** Settings of the server container. */
export interface ServerTaskProps {
  readonly image: GpuImage;
  /** Memory reserved for the server container, in MiB. */
  readonly memoryMiB: number;
  /** `MODEL_REPOSITORY`: `s3://bucket/prefix`. */
  readonly modelRepository: string;
  /** The container's environment beside what this sets (ports, repository, tier, provider, drain). */
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: RetentionDays;
}

/** What {@link addServerTask} made. */
export interface ServerTask {
  readonly taskDefinition: Ec2TaskDefinition;
  readonly server: ContainerDefinition;
  /** The server's log group (EMF lines become metrics here). */
  readonly logGroup: LogGroup;
}

/** Adds the task definition with its server and log router to `scope` (the service's construct). */
export function addServerTask(scope: Construct, props: ServerTaskProps): ServerTask {
  const region = Stack.of(scope).region;
  const logGroup = new LogGroup(scope, 'ServerLogs', {
    retention: props.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const routerLogs = new LogGroup(scope, 'LogRouterLogs', {
    retention: props.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // The task role's grants are the caller's (the models, this log group, the task's queue and uploads).
  const taskDefinition = new Ec2TaskDefinition(scope, 'Task', { networkMode: NetworkMode.AWS_VPC });

  taskDefinition.addFirelensLogRouter('LogRouter', {
    image: fluentBitImage(taskDefinition),
    firelensConfig: { type: FirelensLogRouterType.FLUENTBIT },
    essential: true,
    memoryReservationMiB: 64,
    logging: LogDrivers.awsLogs({ logGroup: routerLogs, streamPrefix: 'log-router' }),
  });
  const image = GPU_IMAGES[props.image];
  const server = taskDefinition.addContainer('server', {
    image: ContainerImage.fromAsset(PROJECT_ROOT, { file: image.file, platform: Platform.LINUX_AMD64 }),
    gpuCount: 1,
    essential: true,
    memoryReservationMiB: props.memoryMiB,
    portMappings: [{ containerPort: SERVER_PORT }],
    // On a stop (scale-in, deployment), ECS sends SIGTERM and kills after this: the server drains first.
    stopTimeout: SERVER_DRAIN.stopTimeout,
    environment: {
      HOST: '0.0.0.0',
      PORT: String(SERVER_PORT),
      EMBEDDED_S3: 'off',
      AWS_REGION: region,
      MODEL_REPOSITORY: props.modelRepository,
      MODEL_CACHE_DIR: '/tmp/models',
      MODEL_TIER: 'gpu',
      EXECUTION_PROVIDER: image.provider,
      ...props.environment,
      ADMISSION_MAX_WAIT_MS: String(ADMISSION_MAX_WAIT_MS),
      STOP_TIMEOUT_MS: String(SERVER_DRAIN.drainMs),
    },
    logging: LogDrivers.firelens({
      options: {
        Name: 'cloudwatch_logs',
        region,
        log_group_name: logGroup.logGroupName,
        log_stream_prefix: 'server/',
        log_key: 'log',
        log_format: 'json/emf',
        auto_create_group: 'false',
      },
    }),
  });
  acknowledgeTaskFindings(taskDefinition);
  return { taskDefinition, server, logGroup };
}

/**
 * AWS for Fluent Bit from the regional ECR repository AWS publishes it in, with pulls limited to that
 * repository (`obtainDefaultFluentBitECRImage` would allow pulls from every repository).
 */
function fluentBitImage(taskDefinition: Ec2TaskDefinition): ContainerImage {
  const stack = Stack.of(taskDefinition);
  taskDefinition.addToExecutionRolePolicy(
    new PolicyStatement({
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      // The publishing account differs by region, so the account is a wildcard; the repository is not.
      resources: [`arn:${stack.partition}:ecr:${stack.region}:*:repository/${FLUENT_BIT_REPOSITORY}`],
    }),
  );
  taskDefinition.addToExecutionRolePolicy(
    new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
  );
  return ContainerImage.fromRegistry(
    StringParameter.valueForStringParameter(taskDefinition, FLUENT_BIT_IMAGE_PARAMETER),
  );
}

function acknowledgeTaskFindings(taskDefinition: Ec2TaskDefinition): void {
  if (taskDefinition.executionRole) {
    const { partition, region } = findingPseudo(taskDefinition);
    acknowledge(
      taskDefinition.executionRole,
      ['AwsSolutions-IAM5[Resource::*]'],
      'ecr:GetAuthorizationToken, which every image pull starts with, has no resource-level permissions.',
    );
    acknowledge(
      taskDefinition.executionRole,
      [`AwsSolutions-IAM5[Resource::arn:${partition}:ecr:${region}:*:repository/${FLUENT_BIT_REPOSITORY}]`],
      'The Fluent Bit image is pulled from its one repository; the account is a wildcard because AWS ' +
        'publishes it from different accounts in different regions.',
    );
  }
  acknowledge(
    taskDefinition,
    ['AwsSolutions-ECS2'],
    'The environment holds configuration only (bucket, queue URLs, model names, tiers); the task role gives ' +
      'access, there are no secrets to move to Secrets Manager.',
  );
}
