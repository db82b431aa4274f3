import { randomUUID } from 'node:crypto';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { S3EventRecord, SQSEvent, SQSRecord } from 'aws-lambda';
import type { UploadHandler } from '../core/adapters/sqs-upload.ts';
import { describeError, log } from '../core/log.ts';
import { encodeEventKey, INCOMING } from '../core/uploads/upload-keys.ts';
import type { EmbeddedS3 } from './embedded-s3.ts';

/** An SQS message carrying S3 records, as S3 → SQS notifications deliver them (keys URL-encoded). */
export function sqsRecordOf(records: readonly S3EventRecord[]): SQSRecord {
  const encoded = records.map((r) => ({
    ...r,
    s3: { ...r.s3, object: { ...r.s3.object, key: encodeEventKey(r.s3.object.key) } },
  }));
  const now = String(Date.now());
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body: JSON.stringify({ Records: encoded }),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: now,
      SenderId: 'AIDAEMBEDDEDS3',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:inferlet-local-uploads',
    awsRegion: 'us-east-1',
  };
}

/** Options of {@link deliverLocalUploads}. */
export interface LocalUploadsOptions {
  readonly s3: EmbeddedS3;
  readonly client: S3Client;
  readonly bucket: string;
  readonly handler: UploadHandler;
  /** Messages in flight at once. */
  readonly concurrency?: number;
  /** Attempts per message before it is given up (as a dead-letter queue would take it). */
  readonly maxAttempts?: number;
}

/**
 * The local stand-in for S3 → SQS → Lambda: object-created events of the uploads bucket under `incoming/`
 * become SQS messages for the same upload handler the Lambda runs, one queue with bounded concurrency,
 * and failed messages are retried with back-off. At start, every object already under `incoming/` is
 * queued once too, so uploads made while the server was down are processed (the handler skips those that
 * already have a result).
 *
 * The embedded S3 server may die and be restarted: while it is down no message is handed out (none burns
 * its attempts on a server that is not there), and when it is back `incoming/` is listed again, since the
 * events of uploads it stored just before it died are lost. A listing that fails is logged and tried
 * again with back-off, never silently dropped.
 *
 * @returns `drained()`, which resolves when the queue is empty, and `stop()`, which hands out nothing more
 *   and resolves when the messages running have finished; those not started are left, as an SQS queue
 *   keeps them, and the listing at the next start finds their objects again.
 */
export function deliverLocalUploads(options: LocalUploadsOptions): LocalUploads {
  const { bucket, handler } = options;
  const concurrency = options.concurrency ?? 1;
  const maxAttempts = options.maxAttempts ?? 5;
  const queue: QueueItem[] = [];
  // The objects (key and ETag) queued, running or waiting for a retry: a listing after a restart skips them.
  const pending = new Set<string>();
  let running = 0;
  let idle: (() => void)[] = [];
  let stopped = false;
  const stoppedWaiters: (() => void)[] = [];

  const pump = () => {
    while (!stopped && running < concurrency && queue.length > 0 && options.s3.isUp()) {
      const item = queue.shift() as QueueItem;
      running++;
      const event: SQSEvent = { Records: [item.record] };
      handler(event)
        .then(
          ({ batchItemFailures }) => batchItemFailures.length > 0,
          (error: unknown) => {
            log.error('upload handler threw', describeError(error));
            return true;
          },
        )
        .then((failed) => {
          // Once stopped, a failed message (refused by the stopping service, or failed) is left for the
          // listing at the next start, as SQS would redeliver it.
          if (failed && item.attempt < maxAttempts && !stopped) {
            setTimeout(
              () => {
                queue.push({ ...item, attempt: item.attempt + 1 });
                pump();
              },
              250 * 2 ** item.attempt,
            ).unref();
          } else {
            pending.delete(item.identity);
            if (failed) {
              log.error('upload message given up after retries', {
                messageId: item.record.messageId,
                key: item.key,
              });
            }
          }
        })
        .finally(() => {
          running--;
          if (stopped && running === 0) for (const resolve of stoppedWaiters.splice(0)) resolve();
          pump();
          if (running === 0 && queue.length === 0) {
            for (const resolve of idle) resolve();
            idle = [];
          }
        });
    }
  };
  const enqueue = (record: S3EventRecord) => {
    const { key, eTag } = record.s3.object;
    const identity = JSON.stringify([key, eTag]);
    pending.add(identity);
    queue.push({ record: sqsRecordOf([record]), attempt: 1, identity, key });
    pump();
  };

  options.s3.events.on('event', (record) => {
    if (
      record.s3.bucket.name === bucket &&
      record.eventName.startsWith('ObjectCreated:') &&
      record.s3.object.key.startsWith(INCOMING)
    ) {
      enqueue(record);
    }
  });

  let scan = 0;
  const listBacklog = async (attempt: number, generation: number): Promise<void> => {
    try {
      let token: string | undefined;
      do {
        const page = await options.client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: INCOMING,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const object of page.Contents ?? []) {
          if (!object.Key) continue;
          const record = backlogRecord(bucket, object.Key, object.ETag, object.Size);
          // An object listed again after a restart may still be queued from its event or the last listing.
          if (!pending.has(JSON.stringify([object.Key, record.s3.object.eTag]))) enqueue(record);
        }
        token = page.NextContinuationToken;
      } while (token);
    } catch (error) {
      // A newer listing (after a restart) has taken over; a down server lists again when it is back.
      const retry = generation === scan && options.s3.isUp() && attempt < maxAttempts;
      log.error('listing earlier uploads failed', {
        bucket,
        prefix: INCOMING,
        attempt,
        retrying: retry,
        ...describeError(error),
      });
      if (retry) {
        setTimeout(() => void listBacklog(attempt + 1, generation), 500 * 2 ** attempt).unref();
      }
    }
  };
  const startListing = () => void listBacklog(1, ++scan);

  options.s3.status.on('up', () => {
    pump();
    startListing();
  });
  startListing();

  return {
    stop: () => {
      stopped = true;
      return running === 0 ? Promise.resolve() : new Promise<void>((resolve) => stoppedWaiters.push(resolve));
    },
    drained: () =>
      running === 0 && queue.length === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => idle.push(resolve)),
  };
}

/** The local upload queue of {@link deliverLocalUploads}. */
export interface LocalUploads {
  /** Resolves when no message is queued or running. */
  drained(): Promise<void>;
  /** Hands out no more messages; resolves when those running have finished. */
  stop(): Promise<void>;
}

interface QueueItem {
  readonly record: SQSRecord;
  readonly attempt: number;
  /** The object's key and ETag, as JSON. */
  readonly identity: string;
  readonly key: string;
}

function backlogRecord(
  bucket: string,
  key: string,
  etag: string | undefined,
  size: number | undefined,
): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'inferlet-backlog' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': '', 'x-amz-id-2': '' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'inferlet-backlog',
      bucket: { name: bucket, ownerIdentity: { principalId: 'inferlet' }, arn: `arn:aws:s3:::${bucket}` },
      object: { key, size: size ?? 0, eTag: (etag ?? '').replace(/"/g, ''), sequencer: '0' },
    },
  };
}
