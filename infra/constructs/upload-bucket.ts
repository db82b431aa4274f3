import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Grant, type IGrantable, type IRole, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, EventType, type IBucket, StorageClass } from 'aws-cdk-lib/aws-s3';
import { SnsDestination, SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { FilterOrPolicy, SubscriptionFilter, Topic } from 'aws-cdk-lib/aws-sns';
import { SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INCOMING } from '../../functions/core/uploads/upload-keys.ts';
import { acknowledge, bucketObjectsFinding, grantsOf } from '../nag.ts';
import { PRIVATE_BUCKET } from './private-bucket.ts';

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

/** Where one task's uploads go: the key path it owns under `incoming/` and its queue. */
export interface UploadRoute {
  /** The task's modality, the first segment of its keys. */
  readonly modality: string;
  /**
   * The task's key path under `incoming/`: the modality for the modality's default task (which takes
   * `incoming/<modality>/<file>` and `incoming/<modality>/<task>/<file>`), `<modality>/<task>` for another.
   */
  readonly path: string;
  /** The task's upload queue. */
  readonly queue: IQueue;
}

/**
 * The bucket of the upload path: clients put files under `incoming/<modality>/` or
 * `incoming/<modality>/<task>/`, the task writes the same path under `results/` or `errors/` with `.json`
 * added (`incoming/text/embed/a.txt` -> `results/text/embed/a.txt.json`). Private, SSE-S3, TLS only, versioned
 * (the upload handler is idempotent per object version), access-logged, each prefix expires on its own
 * schedule, and every object event reaches EventBridge (`Object Created` of `results/` and `errors/` keys is
 * how a client learns that its upload is done).
 *
 * @example
 * ```ts
 * const uploads = new UploadBucket(this, 'Uploads', { accessLogsBucket, lifecycle });
 * uploads.routeUploads([{ modality: 'image', path: 'image', queue }]);
 * uploads.grantTaskUploads(fn, 'image');
 * ```
 */
export class UploadBucket extends Construct {
  /** The bucket. */
  readonly bucket: Bucket;
  /** The key of the upload-event topics, if {@link UploadBucket.routeUploads} made one. */
  private key?: Key;

  constructor(scope: Construct, id: string, props: UploadBucketProps) {
    super(scope, id);
    const { lifecycle } = props;
    const noncurrentVersionExpiration = Duration.days(lifecycle.noncurrentVersionExpirationDays);
    this.bucket = new Bucket(this, 'Bucket', {
      ...PRIVATE_BUCKET,
      versioned: true,
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

  /**
   * Sends each task's object-created events to its queue. S3 refuses two notifications of one event whose
   * prefixes overlap, so `incoming/text/` (text/classify, the default) and `incoming/text/embed/` cannot
   * both be S3 notifications: a modality whose default task is deployed beside another task gets one
   * notification of `incoming/<modality>/` to an SNS topic, whose subscriptions filter on the key
   * (`incoming/text/embed/...` to text/embed's queue, everything else to the default's) and deliver the S3
   * event unchanged (raw delivery), so the consumers read the same message either way. Every other task
   * gets a notification of its own path straight to its queue.
   */
  routeUploads(routes: readonly UploadRoute[]): void {
    const modalities = [...new Set(routes.map((route) => route.modality))];
    for (const modality of modalities) {
      const own = routes.filter((route) => route.modality === modality);
      const fallback = own.find((route) => route.path === modality);
      const named = own.filter((route) => route !== fallback);
      if (fallback && named.length > 0) this.fanOut(modality, fallback, named);
      else for (const route of own) this.notifyQueue(`${INCOMING}${route.path}/`, route.queue);
    }
  }

  /** Sends the object-created events under `prefix` straight to `queue`. */
  private notifyQueue(prefix: string, queue: IQueue): void {
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(queue), { prefix });
    this.acknowledgeNotificationsHandler();
  }

  /** One notification of `incoming/<modality>/` to a topic whose subscriptions pick each task's keys. */
  private fanOut(modality: string, fallback: UploadRoute, named: readonly UploadRoute[]): void {
    if (named.length > 1)
      // An SNS filter can exclude one prefix from the default's subscription, not several.
      throw new Error(
        `uploads of ${modality}: the default task can share incoming/${modality}/ with one other task, not ` +
          `${named.length} (${named.map((route) => route.path).join(', ')})`,
      );
    const topic = new Topic(this, `Events-${modality}`, {
      displayName: `Inferlet uploads under ${INCOMING}${modality}/`,
      masterKey: this.eventsKey(),
      enforceSSL: true,
    });
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SnsDestination(topic), {
      prefix: `${INCOMING}${modality}/`,
    });
    this.acknowledgeNotificationsHandler();
    const byKey = (condition: unknown) => ({
      Records: FilterOrPolicy.policy({
        s3: FilterOrPolicy.policy({
          object: FilterOrPolicy.policy({ key: FilterOrPolicy.filter(new SubscriptionFilter([condition])) }),
        }),
      }),
    });
    for (const route of named) {
      topic.addSubscription(
        new SqsSubscription(route.queue, {
          rawMessageDelivery: true,
          filterPolicyWithMessageBody: byKey({ prefix: `${INCOMING}${route.path}/` }),
        }),
      );
    }
    const other = `${INCOMING}${named[0]?.path}/`;
    topic.addSubscription(
      new SqsSubscription(fallback.queue, {
        rawMessageDelivery: true,
        filterPolicyWithMessageBody: byKey({ 'anything-but': { prefix: other } }),
      }),
    );
  }

  /** The key of the upload-event topics, created with the first: S3 may publish to them with it. */
  private eventsKey(): Key {
    if (this.key) return this.key;
    this.key = new Key(this, 'EventsKey', {
      description: 'Encrypts the upload-event topics of the Inferlet uploads bucket',
      enableKeyRotation: true,
    });
    // S3 publishes to an encrypted topic only with the topic key's use granted to the S3 service.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('s3.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { ArnLike: { 'aws:SourceArn': this.bucket.bucketArn } },
      }),
    );
    return this.key;
  }

  private acknowledgeNotificationsHandler(): void {
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
   * Lets `grantee` process the uploads of one task and nothing else: read `incoming/<path>/*` (any
   * version), read and write `results/<path>/*` and `errors/<path>/*` (the handler reads a result's
   * metadata to skip a version it has done), where `path` is the task's {@link UploadRoute.path}. `s3:ListBucket` reveals key names only, and without it
   * S3 answers 403 instead of 404 for a result that does not exist yet, which the handler would retry forever.
   */
  grantTaskUploads(grantee: IGrantable, path: string): Grant {
    const incoming = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: [this.bucket.arnForObjects(`${INCOMING}${path}/*`)],
    });
    // DeleteObject: a new record of a key removes the record of the other kind (one record per key).
    const outputs = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resourceArns: [
        this.bucket.arnForObjects(`results/${path}/*`),
        this.bucket.arnForObjects(`errors/${path}/*`),
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
  acknowledgeTaskUploads(role: IRole, paths: readonly string[]): void {
    acknowledge(
      grantsOf(role),
      paths.flatMap((path) =>
        ['incoming', 'results', 'errors'].map((prefix) =>
          bucketObjectsFinding(this.bucket, `${prefix}/${path}/*`),
        ),
      ),
      'Uploads are files clients name: the grant is limited to the prefixes of this task (incoming/<modality>/ ' +
        'to read, results/ and errors/<modality>/ to write), within which any key is possible.',
    );
  }
}
