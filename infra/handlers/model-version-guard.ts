/**
 * The CloudFormation custom resource that runs before `cdk deploy` publishes `models/`: it fails the deploy
 * when the models bucket already holds a file of a model version with other bytes than the local repository,
 * because a published version is immutable (functions cache it, a rollback needs it as it was). The
 * deployment's `BucketDeployment` would otherwise overwrite it in place.
 *
 * Properties: `Bucket`, and `Files`, each `"<key> <sha256>"`. A file published by `npm run models:publish`
 * carries its sha256 as metadata; one published by an earlier `cdk deploy` does not and is read and hashed.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';

/** A published file whose bytes differ from the local one. */
export interface PublishedConflict {
  readonly key: string;
  readonly localSha256: string;
  readonly publishedSha256: string;
}

/** The files of `files` (`"<key> <sha256>"`) that `bucket` holds with another sha256. */
export async function findConflicts(
  client: S3Client,
  bucket: string,
  files: readonly string[],
): Promise<PublishedConflict[]> {
  const conflicts: PublishedConflict[] = [];
  for (const line of files) {
    const [key = '', localSha256 = ''] = line.split(' ');
    const published = await publishedSha256(client, bucket, key);
    if (published !== undefined && published !== localSha256)
      conflicts.push({ key, localSha256, publishedSha256: published });
  }
  return conflicts;
}

async function publishedSha256(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  let recorded: string | undefined;
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    recorded = head.Metadata?.sha256;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return undefined;
    throw error;
  }
  if (recorded) return recorded;
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

/** The custom resource handler: answers CloudFormation at the event's `ResponseURL`. */
export async function handler(event: CloudFormationCustomResourceEvent, context: Context): Promise<void> {
  const physicalId =
    'PhysicalResourceId' in event ? event.PhysicalResourceId : `model-version-guard-${context.awsRequestId}`;
  let status: 'SUCCESS' | 'FAILED' = 'SUCCESS';
  let reason = 'no published model version changes';
  if (event.RequestType !== 'Delete') {
    try {
      const { Bucket, Files } = event.ResourceProperties as unknown as { Bucket: string; Files: string[] };
      const conflicts = await findConflicts(new S3Client({}), Bucket, Files);
      if (conflicts.length > 0) {
        status = 'FAILED';
        reason =
          'published model versions are immutable; the bucket holds other bytes for ' +
          conflicts.map((c) => `s3://${Bucket}/${c.key}`).join(', ') +
          ': publish each changed model as a new version';
      }
    } catch (error) {
      status = 'FAILED';
      reason = `could not compare the published models: ${(error as Error).message}`;
    }
  }
  console.log(JSON.stringify({ status, reason }));
  const response = await fetch(event.ResponseURL, {
    method: 'PUT',
    // The presigned URL signs no content type; an empty one is what CloudFormation's own helper sends.
    headers: { 'content-type': '' },
    body: JSON.stringify({
      Status: status,
      // CloudFormation shows at most 4 KB of the reason.
      Reason: reason.slice(0, 4000),
      PhysicalResourceId: physicalId,
      StackId: event.StackId,
      RequestId: event.RequestId,
      LogicalResourceId: event.LogicalResourceId,
    }),
  });
  if (!response.ok) throw new Error(`CloudFormation refused the response: ${response.status}`);
}
