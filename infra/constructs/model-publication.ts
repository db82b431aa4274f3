import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Grant, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { acknowledge, bucketObjectsFinding, findingPseudo, grantsOf } from '../nag.ts';
import type { ModelBucket } from './model-bucket.ts';

/** Props of {@link ModelPublication}. */
export interface ModelPublicationProps {
  /** The bucket to publish into. */
  readonly models: ModelBucket;
  /** The local model repository folder (`models/`, built by `npm run models:build`). */
  readonly repositoryDir: string;
  /**
   * Key prefix of the repository in the bucket: '' or ending in '/'.
   * @default ''
   */
  readonly prefix?: string;
  /** Retention of the publishing function's logs. */
  readonly logRetention: RetentionDays;
}

/**
 * Publishes the local model repository to the models bucket on every deploy that changes it, the way
 * `npm run models:publish` does: weights first, manifests after them (a second deployment that depends on
 * the first), so a reader never finds a manifest whose files are missing. Nothing is deleted (`prune` off):
 * versions stay immutable and a function still serving an older version keeps finding it, and the objects
 * stay when the stack goes.
 *
 * Chosen over a separate `models:publish` step so that `cdk deploy` alone ships a working deployment; for a
 * repository too large to zip into an asset, turn `storage.publishModels` off and run the command instead.
 *
 * A published version is immutable, as `npm run models:publish` keeps it: before anything is copied, a guard
 * (custom resource, `infra/handlers/model-version-guard.ts`) compares the sha256 of every local file with
 * what the bucket holds at its key, and fails the deploy, nothing copied, when one differs: a rebuilt model
 * must get a new version.
 */
export class ModelPublication extends Construct {
  /** Uploads every file but the manifests. */
  readonly files: BucketDeployment;
  /** Uploads the manifests, after {@link ModelPublication.files}. */
  readonly manifests: BucketDeployment;
  /** Fails the deploy before any copy when a published version's bytes would change. */
  readonly guard: CustomResource;

  constructor(scope: Construct, id: string, props: ModelPublicationProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const common = {
      sources: [Source.asset(props.repositoryDir)],
      destinationBucket: props.models.bucket,
      destinationKeyPrefix: props.prefix || undefined,
      prune: false,
      retainOnDelete: true,
      extract: true,
      outputObjectKeys: false,
      memoryLimit: 1024,
      logGroup,
    };
    this.guard = this.versionGuard(props, logGroup);
    this.files = new BucketDeployment(this, 'Files', { ...common, exclude: ['*/manifest.json'] });
    this.files.node.addDependency(this.guard);
    this.manifests = new BucketDeployment(this, 'Manifests', {
      ...common,
      exclude: ['*'],
      include: ['*/manifest.json'],
    });
    this.manifests.node.addDependency(this.files);

    // The deployments share one handler, a singleton created at the stack's root.
    const { partition, region } = findingPseudo(this);
    for (const handler of bucketDeploymentHandlers(Stack.of(this))) {
      acknowledge(
        handler,
        [
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        ],
        'The CDK BucketDeployment handler is created by aws-cdk-lib with the basic execution role; it only ' +
          'writes its own logs with it.',
      );
      acknowledge(
        handler,
        [
          ...['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*'].map(
            (action) => `AwsSolutions-IAM5[Action::${action}]`,
          ),
          `AwsSolutions-IAM5[Resource::arn:${partition}:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-${region}/*]`,
          bucketObjectsFinding(props.models.bucket, '*'),
        ],
        'The CDK BucketDeployment handler (aws-cdk-lib grants) copies a whole asset: it reads the CDK asset ' +
          'bucket and syncs into every key of the models bucket, which holds only the model repository.',
      );
      acknowledge(
        handler,
        ['AwsSolutions-L1'],
        'The CDK BucketDeployment handler runtime is chosen by aws-cdk-lib and moves with its upgrades.',
      );
    }
  }

  private versionGuard(props: ModelPublicationProps, logGroup: LogGroup): CustomResource {
    const role = new Role(this, 'GuardRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Compares the local model repository with the published one before a deploy copies it',
    });
    logGroup.grantWrite(role);
    // Read only: HEAD/GET of the model objects, and ListBucket so that a missing key is a 404, not a 403.
    Grant.addToPrincipal({
      grantee: role,
      actions: ['s3:GetObject'],
      resourceArns: [props.models.bucket.arnForObjects('*')],
    });
    Grant.addToPrincipal({
      grantee: role,
      actions: ['s3:ListBucket'],
      resourceArns: [props.models.bucket.bucketArn],
    });
    const fn = new NodejsFunction(this, 'GuardFunction', {
      entry: join(PROJECT_ROOT, 'infra', 'handlers', 'model-version-guard.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      description: 'Refuses a deploy that would change the bytes of a published model version',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.X86_64,
      memorySize: 1024,
      timeout: Duration.minutes(10),
      role,
      logGroup,
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        externalModules: [],
        minify: true,
      },
    });
    acknowledge(
      grantsOf(role),
      [bucketObjectsFinding(props.models.bucket, '*')],
      'The guard reads whichever model files the local repository names, so s3:GetObject covers every object ' +
        'of the models bucket, which holds nothing but the model repository; it writes nothing.',
    );
    acknowledge(
      fn,
      ['AwsSolutions-L1'],
      'Pinned to nodejs22.x like the inference functions; moving to a newer runtime is a separate, tested change.',
    );
    return new CustomResource(this, 'Guard', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::ModelVersionGuard',
      properties: {
        Bucket: props.models.bucket.bucketName,
        Files: localFiles(props.repositoryDir, props.prefix ?? ''),
      },
    });
  }
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Every file of every version in a local repository as `"<key> <sha256>"`: the manifests' own entries, and
 * each manifest by the hash of its bytes.
 */
export function localFiles(repositoryDir: string, prefix: string): string[] {
  const lines: string[] = [];
  if (!existsSync(repositoryDir)) return lines;
  const directories = (dir: string) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  for (const name of directories(repositoryDir)) {
    const modelDir = join(repositoryDir, name);
    for (const version of directories(modelDir)) {
      const manifestPath = join(modelDir, version, 'manifest.json');
      if (!existsSync(manifestPath)) continue;
      const text = readFileSync(manifestPath);
      const manifest = JSON.parse(text.toString('utf8')) as { files?: { path: string; sha256: string }[] };
      for (const file of manifest.files ?? [])
        lines.push(`${prefix}${name}/${version}/${file.path} ${file.sha256}`);
      lines.push(
        `${prefix}${name}/${version}/manifest.json ${createHash('sha256').update(text).digest('hex')}`,
      );
    }
  }
  return lines;
}

function bucketDeploymentHandlers(stack: Stack): IConstruct[] {
  return stack.node.children.filter((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
}
