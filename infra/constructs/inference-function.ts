import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { type ILambdaDeploymentConfig, LambdaDeploymentGroup } from 'aws-cdk-lib/aws-codedeploy';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type Alias, Architecture, type ILayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_METRICS_NAMESPACE } from '../../functions/core/metric-names.ts';
import { ESM_REQUIRE_BANNER, EXTERNAL_PACKAGES } from '../../scripts/bundle.ts';
import { acknowledge } from '../nag.ts';
import type { ModelBucket } from './model-bucket.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Props of {@link InferenceFunction}. */
export interface InferenceFunctionProps {
  /** The Lambda entry, relative to the repository root, e.g. `functions/image/handler.ts`; exports `handler`. */
  readonly entry: string;
  /** What the function does, for the console and the role's description, e.g. `image/ocr over HTTP`. */
  readonly description?: string;
  /** The bucket of the model repository; the function may only read it. */
  readonly models: ModelBucket;
  /** Layers that provide the packages left out of the bundle (`EXTERNAL_PACKAGES`), e.g. `NativeLayers.all`. */
  readonly layers: readonly ILayerVersion[];
  /** `POWERTOOLS_SERVICE_NAME`: the `service` dimension of the function's metrics, e.g. `image`. */
  readonly serviceName: string;
  /**
   * `POWERTOOLS_METRICS_NAMESPACE`: the CloudWatch namespace of the function's metrics.
   * @default 'Inferlet'
   */
  readonly metricsNamespace?: string;
  /**
   * Memory in MB; Lambda gives CPU in proportion (1769 MB is one vCPU), which inference needs more than memory.
   * @default 2048
   */
  readonly memorySize?: number;
  /**
   * The most one invocation may take, model download on a cold start included.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Key prefix of the model repository inside the bucket, empty or ending in `/`.
   * @default '' (the repository is the whole bucket)
   */
  readonly modelPrefix?: string;
  /** More environment variables, e.g. `MODEL_IMAGE_OCR` to pin a model version; these win over the defaults. */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Concurrency reserved for the function, which also caps it.
   * @default none (the account's unreserved pool)
   */
  readonly reservedConcurrency?: number;
  /**
   * Environments kept initialised (models loaded) on the `live` alias, which callers invoke.
   * @default none
   */
  readonly provisionedConcurrency?: number;
}

/**
 * One inference task as a Lambda function on x86_64 (onnxruntime has crashed on arm64 Lambda): an esbuild
 * ESM bundle without the native packages, which come from layers, models read from the model bucket into
 * `/tmp/models`, its own role and log group with a retention. It has no URL of its own: the HTTP API or a
 * queue invokes {@link InferenceFunction.target}, the `live` alias, which each deploy moves to the new version
 * (gradually, with rollback on alarms, once {@link InferenceFunction.rollOut} is called).
 *
 * @example
 * ```ts
 * const image = new InferenceFunction(this, 'ImageFunction', {
 *   entry: 'functions/image/handler.ts',
 *   models,
 *   layers: nativeLayers.all,
 *   serviceName: 'image',
 * });
 * ```
 */
export class InferenceFunction extends Construct {
  /** The function. */
  readonly function: NodejsFunction;
  /** The function's execution role: it writes to {@link InferenceFunction.logGroup} and reads the models. */
  readonly role: Role;
  /** The function's log group. */
  readonly logGroup: LogGroup;
  /** What callers invoke: the `live` alias of the function's current version. */
  readonly target: Alias;

  constructor(scope: Construct, id: string, props: InferenceFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH });

    // An own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the inference function ${props.description ?? props.entry}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      ...(props.description && { description: props.description }),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.X86_64,
      memorySize: props.memorySize ?? 2048,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      ...(props.reservedConcurrency && { reservedConcurrentExecutions: props.reservedConcurrency }),
      logGroup: this.logGroup,
      layers: [...props.layers],
      environment: {
        MODEL_REPOSITORY: `s3://${props.models.bucket.bucketName}/${props.modelPrefix ?? ''}`,
        MODEL_CACHE_DIR: '/tmp/models',
        MODEL_TIER: 'lambda',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
        // Stack traces of the minified bundle point at the TypeScript source.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Replaces the default ['@aws-sdk/*']: the SDK is bundled at the lockfile's version, as scripts/bundle.ts does.
        externalModules: [...EXTERNAL_PACKAGES],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
      },
    });
    props.models.grantReadModels(this.function);
    props.models.acknowledgeModelReads(this.role);
    acknowledge(
      this.function,
      ['AwsSolutions-L1'],
      'Pinned to nodejs22.x: the bundle targets node22 and the native layers are built and tested for it; ' +
        'moving to a newer runtime is a separate, tested change.',
    );

    this.target = this.function.addAlias('live', {
      ...(props.provisionedConcurrency && { provisionedConcurrentExecutions: props.provisionedConcurrency }),
    });
  }

  /**
   * Shifts the `live` alias to each new version through CodeDeploy as `config` says, and rolls the shift back
   * when one of `alarms` goes off during it.
   */
  rollOut(config: ILambdaDeploymentConfig, alarms: readonly IAlarm[]): LambdaDeploymentGroup {
    const group = new LambdaDeploymentGroup(this, 'Rollout', {
      alias: this.target,
      deploymentConfig: config,
      alarms: [...alarms],
      autoRollback: { failedDeployment: true, deploymentInAlarm: true, stoppedDeployment: true },
    });
    acknowledge(
      group,
      [
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      ],
      "CodeDeploy's own managed policy for Lambda shifts: it may update aliases, read alarms and publish " +
        "to SNS topics named CodeDeployTopic*; aws-cdk-lib's deployment group uses it.",
    );
    return group;
  }
}
