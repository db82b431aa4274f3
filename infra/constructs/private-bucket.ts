import { BlockPublicAccess, BucketEncryption, type BucketProps, ObjectOwnership } from 'aws-cdk-lib/aws-s3';

/**
 * What every bucket of the stack is: no public access, ACLs off (the bucket owner owns every object),
 * encrypted at rest, reachable over TLS only. SSE-S3 rather than a KMS key: S3 server access logs are
 * delivered to SSE-S3 buckets only, and one setting for all keeps the buckets alike.
 *
 * @example
 * ```ts
 * new Bucket(this, 'Bucket', { ...PRIVATE_BUCKET, versioned: true });
 * ```
 */
export const PRIVATE_BUCKET = Object.freeze({
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
} as const satisfies BucketProps);
