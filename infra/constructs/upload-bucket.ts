import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Grant, type IGrantable, type IRole } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  EventType,
  type IBucket,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge, bucketObjectsFinding, grantsOf } from '../nag.ts';

/** How long objects stay under each prefix of the uploads bucket. */
export interface UploadLifecycle {
  /** Days an object under `incoming/` is kept. */
  readonly incomingExpirationDays: number;
  /** Days until a result under `results/` moves to S3 Standard-IA (30 or more). */
  readonly resultsInfrequentAccessDays: number;
  /** Days a result is kept. */
  readonly resultsExpirationDays: number;
  /** Days an `errors/` record is kept. */
  readonly errorsExpirationDays: number;
  /** Days an overwritten or deleted version is kept, under every prefix. */
  readonly noncurrentVersionExpirationDays: number;
}

/** Props of {@link UploadBucket}. */
export interface UploadBucketProps {
  /** Receives the bucket's server access logs (prefix `uploads/`); SSE-S3, as log delivery requires. */
  readonly accessLogsBucket: IBucket;
  /** Expiry and transitions of `incoming/`, `results/` and `errors/`. */
  readonly lifecycle: UploadLifecycle;
  /**
   * What happens to the bucket when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The bucket of the upload path: clients put files under `incoming/<modality>/`, the task writes
 * `results/<modality>/<name>.json` or `errors/<modality>/<name>.json`. Private, SSE-S3, TLS only, versioned
 * (the upload handler is idempotent per object version), access-logged, each prefix expires on its own
 * schedule, and every object event reaches EventBridge (`Object Created` of `results/` and `errors/` keys is
 * how a client learns that its upload is done).
 *
 * @example
 * ```ts
 * const uploads = new UploadBucket(this, 'Uploads', { accessLogsBucket, lifecycle });
 * uploads.notifyQueue('image', queue);
 * uploads.grantTaskUploads(fn, 'image');
 * ```
 */
export class UploadBucket extends Construct {
  /** The bucket. */
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: UploadBucketProps) {
    super(scope, id);
    const { lifecycle } = props;
    const noncurrentVersionExpiration = Duration.days(lifecycle.noncurrentVersionExpirationDays);
    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'uploads/',
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // Every object event also goes to the default event bus: a client waits for its `results/` or
      // `errors/` object with a rule instead of polling (README, "Async results").
      eventBridgeEnabled: true,
      lifecycleRules: [
        {
          id: 'incoming',
          prefix: 'incoming/',
          expiration: Duration.days(lifecycle.incomingExpirationDays),
          noncurrentVersionExpiration,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          id: 'results',
          prefix: 'results/',
          transitions: [
            {
              storageClass: StorageClass.INFREQUENT_ACCESS,
              transitionAfter: Duration.days(lifecycle.resultsInfrequentAccessDays),
            },
          ],
          expiration: Duration.days(lifecycle.resultsExpirationDays),
          noncurrentVersionExpiration,
        },
        {
          id: 'errors',
          prefix: 'errors/',
          expiration: Duration.days(lifecycle.errorsExpirationDays),
          noncurrentVersionExpiration,
        },
        { id: 'expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });
  }

  /** Sends the object-created events of `incoming/<modality>/` to `queue`. */
  notifyQueue(modality: string, queue: IQueue): void {
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(queue), {
      prefix: `incoming/${modality}/`,
    });
    // The notifications are set by a singleton handler aws-cdk-lib adds at the stack's root.
    for (const handler of Stack.of(this).node.children) {
      if (!handler.node.id.startsWith('BucketNotificationsHandler')) continue;
      acknowledge(
        handler,
        [
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        ],
        'The CDK bucket-notifications handler is created by aws-cdk-lib with the basic execution role; it ' +
          'only writes its own logs with it.',
      );
    }
  }

  /**
   * Lets `grantee` process the uploads of one modality and nothing else: read `incoming/<modality>/*`
   * (any version), read and write `results/<modality>/*` and `errors/<modality>/*` (the handler reads a
   * result's metadata to skip a version it has done). `s3:ListBucket` reveals key names only, and without it
   * S3 answers 403 instead of 404 for a result that does not exist yet, which the handler would retry forever.
   */
  grantTaskUploads(grantee: IGrantable, modality: string): Grant {
    const incoming = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: [this.bucket.arnForObjects(`incoming/${modality}/*`)],
    });
    // DeleteObject: a new record of a key removes the record of the other kind (one record per key).
    const outputs = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resourceArns: [
        this.bucket.arnForObjects(`results/${modality}/*`),
        this.bucket.arnForObjects(`errors/${modality}/*`),
      ],
    });
    const listing = Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
    return incoming.combine(outputs).combine(listing);
  }

  /** Acknowledges, on `role`'s grants, the per-file wildcards of {@link UploadBucket.grantTaskUploads}. */
  acknowledgeTaskUploads(role: IRole, modalities: readonly string[]): void {
    acknowledge(
      grantsOf(role),
      modalities.flatMap((modality) =>
        ['incoming', 'results', 'errors'].map((prefix) =>
          bucketObjectsFinding(this.bucket, `${prefix}/${modality}/*`),
        ),
      ),
      'Uploads are files clients name: the grant is limited to the prefixes of this task (incoming/<modality>/ ' +
        'to read, results/ and errors/<modality>/ to write), within which any key is possible.',
    );
  }
}
