import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { acknowledge, bucketObjectsFinding, findingPseudo } from '../nag.ts';
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
 */
export class ModelPublication extends Construct {
  /** Uploads every file but the manifests. */
  readonly files: BucketDeployment;
  /** Uploads the manifests, after {@link ModelPublication.files}. */
  readonly manifests: BucketDeployment;

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
    this.files = new BucketDeployment(this, 'Files', { ...common, exclude: ['*/manifest.json'] });
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
}

function bucketDeploymentHandlers(stack: Stack): IConstruct[] {
  return stack.node.children.filter((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
}
