import { S3Client } from '@aws-sdk/client-s3';
import type { S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError, log } from '../log.ts';
import { createRuntime } from '../runtime.ts';
import { taskModelFromEnv } from '../tasks/served-model.ts';
import type { TaskDefinition } from '../tasks/types.ts';
import { decodeEventKey } from '../uploads/upload-keys.ts';
import { type UploadedObject, UploadProcessor } from '../uploads/upload-processor.ts';

/** A Lambda handler for SQS messages that carry S3 event notifications, with partial batch responses. */
export type UploadHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** The objects an SQS message names; `[]` for S3's `s3:TestEvent`, `undefined` for a message that is not an S3 event. */
export function objectsOfMessage(body: string): UploadedObject[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  if ((parsed as { Event?: unknown }).Event === 's3:TestEvent') return [];
  const records = (parsed as Partial<S3Event>).Records;
  if (!Array.isArray(records)) return undefined;
  return records
    .filter((r) => typeof r?.eventName === 'string' && r.eventName.startsWith('ObjectCreated:'))
    .map((r) => ({
      bucket: r.s3.bucket.name,
      key: decodeEventKey(r.s3.object.key),
      ...(r.s3.object.eTag ? { etag: r.s3.object.eTag } : {}),
      ...(r.s3.object.versionId ? { versionId: r.s3.object.versionId } : {}),
      ...(typeof r.s3.object.size === 'number' ? { size: r.s3.object.size } : {}),
    }));
}

/**
 * The upload handler: each SQS message's S3 records are processed; a message whose processing fails in a
 * way a retry may cure is reported in `batchItemFailures` (so only it returns to the queue), everything
 * else is acknowledged — results and `errors/` records are already written by then.
 */
export function createSqsUploadHandler(processor: UploadProcessor, concurrency = 2): UploadHandler {
  const processMessage = async (record: SQSRecord): Promise<boolean> => {
    const objects = objectsOfMessage(record.body);
    if (objects === undefined) {
      // Not an S3 event: no retry can make it one. Logged (without the body) and dropped.
      log.warn('message is not an S3 event notification; dropped', { messageId: record.messageId });
      return true;
    }
    try {
      for (const object of objects) {
        const outcome = await processor.process(object);
        log.info('upload', { messageId: record.messageId, key: object.key, ...outcome });
      }
      return true;
    } catch (error) {
      log.warn('upload failed; left for retry', { messageId: record.messageId, ...describeError(error) });
      return false;
    }
  };

  return async (event) => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    const queue = [...event.Records];
    const worker = async () => {
      for (let record = queue.shift(); record; record = queue.shift()) {
        if (!(await processMessage(record))) failures.push({ itemIdentifier: record.messageId });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return { batchItemFailures: failures };
  };
}

/**
 * The upload handler of one task function (SQS → this), with the function's own model loading started
 * during the init phase. Env: `MAX_UPLOAD_BYTES`, `UPLOAD_CONCURRENCY` (default 1: inference uses the CPUs).
 */
export function createTaskUploadHandler(definition: TaskDefinition): UploadHandler {
  const { service } = createRuntime({ tasks: [{ definition, model: taskModelFromEnv(definition) }] });
  void service.warm();
  const processor = new UploadProcessor({ service, s3: new S3Client({}) });
  return createSqsUploadHandler(processor, Number(process.env.UPLOAD_CONCURRENCY ?? 1));
}
