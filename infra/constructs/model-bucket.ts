import { RemovalPolicy } from 'aws-cdk-lib';
import { Grant, type IGrantable, type IRole } from 'aws-cdk-lib/aws-iam';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, bucketObjectsFinding, grantsOf } from '../nag.ts';
import { PRIVATE_BUCKET } from './private-bucket.ts';

/** Props of {@link ModelBucket}. */
export interface ModelBucketProps {
  /**
   * What happens to both buckets when they leave the stack. Models are rebuilt from source, but access
   * logs are an audit record, hence the default.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The S3 bucket that holds the model repository (`<model>/<version>/` with a manifest), as the model store
 * reads it: private, encrypted at rest, reachable only over TLS, versioned so a bad publish can be rolled
 * back, with server access logs in a second bucket of the same kind.
 *
 * @example
 * ```ts
 * const models = new ModelBucket(this, 'Models');
 * models.grantReadModels(fn);
 * fn.addEnvironment('MODEL_REPOSITORY', `s3://${models.bucket.bucketName}/`);
 * ```
 */
export class ModelBucket extends Construct {
  /** The bucket of the model repository. */
  readonly bucket: Bucket;
  /** The bucket that receives the server access logs of {@link ModelBucket.bucket}. */
  readonly accessLogsBucket: Bucket;

  constructor(scope: Construct, id: string, props: ModelBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // Server access logging delivers with SSE-S3 only, which PRIVATE_BUCKET has.
    this.accessLogsBucket = new Bucket(this, 'AccessLogs', { ...PRIVATE_BUCKET, removalPolicy });

    this.bucket = new Bucket(this, 'Bucket', {
      ...PRIVATE_BUCKET,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'models/',
      removalPolicy,
    });
  }

  /**
   * Lets `grantee` read the model repository and nothing else: `s3:GetObject` (GET and HEAD) on its
   * objects and `s3:ListBucket` on the bucket.
   */
  grantReadModels(grantee: IGrantable): Grant {
    const objects = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects('*')],
    });
    const listing = Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
    return objects.combine(listing);
  }

  /**
   * Acknowledges, on `role`'s grants, the object wildcard of {@link ModelBucket.grantReadModels}; call after
   * the grant.
   */
  acknowledgeModelReads(role: IRole): void {
    acknowledge(
      grantsOf(role),
      [bucketObjectsFinding(this.bucket, '*')],
      'Model files are found at run time (<model>/<version>/<file> from manifests), so s3:GetObject covers ' +
        'every object of the model bucket; the bucket holds nothing but the model repository.',
    );
  }
}
