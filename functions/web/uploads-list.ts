/**
 * What `GET /v1/uploads` lists: the embedded uploads bucket's `incoming/` objects, newest first, each with
 * what became of it (a result under `results/`, an error under `errors/`, or nothing yet).
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import type { UploadEntry, UploadsResult } from '../core/http/api-schemas.ts';
import {
  ERRORS,
  errorKey,
  INCOMING,
  parseIncomingKey,
  RESULTS,
  resultKey,
} from '../core/uploads/upload-keys.ts';

/** Most uploads listed, and most error records read, per call: the page shows the newest. */
export const MAX_LISTED_UPLOADS = 50;
/** Largest error record read back for its message; a bigger one is named, not read. */
const MAX_ERROR_RECORD_BYTES = 16 * 1024;

async function keysUnder(client: S3Client, bucket: string, prefix: string) {
  // One page (1000 keys) is what a person looks at; s3rver needs a legacy OpenSSL provider to page further.
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
  return page.Contents ?? [];
}

async function errorMessage(client: S3Client, bucket: string, key: string): Promise<string> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if ((object.ContentLength ?? 0) > MAX_ERROR_RECORD_BYTES) return 'the error record is too large to show';
  try {
    const record = JSON.parse((await object.Body?.transformToString()) ?? '') as { error?: unknown };
    return typeof record.error === 'string' ? record.error : 'the error record has no message';
  } catch {
    return 'the error record is not JSON';
  }
}

/** Lists the newest {@link MAX_LISTED_UPLOADS} uploads of `bucket` and their state. */
export async function listUploads(client: S3Client, bucket: string): Promise<z.infer<typeof UploadsResult>> {
  const [incoming, results, errors] = await Promise.all([
    keysUnder(client, bucket, INCOMING),
    keysUnder(client, bucket, RESULTS),
    keysUnder(client, bucket, ERRORS),
  ]);
  const resultKeys = new Set(results.map((o) => o.Key));
  const errorKeys = new Set(errors.map((o) => o.Key));
  const newest = incoming
    .filter((o) => o.Key !== undefined && parseIncomingKey(o.Key) !== undefined)
    .sort((a, b) => (b.LastModified?.getTime() ?? 0) - (a.LastModified?.getTime() ?? 0))
    .slice(0, MAX_LISTED_UPLOADS);
  const uploads = await Promise.all(
    newest.map(async (object): Promise<z.infer<typeof UploadEntry>> => {
      const key = object.Key as string;
      const parsed = parseIncomingKey(key) as NonNullable<ReturnType<typeof parseIncomingKey>>;
      const entry = {
        key,
        size: object.Size ?? 0,
        lastModified: object.LastModified?.toISOString() ?? null,
      };
      const failed = errorKey(parsed);
      if (errorKeys.has(failed)) {
        const error = await errorMessage(client, bucket, failed).catch(
          () => 'the error record cannot be read',
        );
        return { ...entry, state: 'failed', errorKey: failed, error };
      }
      const done = resultKey(parsed);
      if (resultKeys.has(done)) return { ...entry, state: 'done', resultKey: done };
      return { ...entry, state: 'pending' };
    }),
  );
  return { bucket, uploads };
}
