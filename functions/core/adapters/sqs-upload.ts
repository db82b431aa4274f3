import {
  BatchProcessor,
  EventType,
  ParsingError,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { parser } from '@aws-lambda-powertools/batch/parser';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import { S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { loadSettings } from '../config/env.ts';
import { describeError, log } from '../log.ts';
import { createRuntime } from '../runtime.ts';
import { taskModelFromEnv } from '../tasks/served-model.ts';
import type { TaskDefinition } from '../tasks/types.ts';
import { decodeEventKey } from '../uploads/upload-keys.ts';
import { type UploadedObject, UploadProcessor } from '../uploads/upload-processor.ts';

/** A Lambda handler for SQS messages that carry S3 event notifications, with partial batch responses. */
export type UploadHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/**
 * A JSON text parsed by `schema`. Powertools' `JSONStringified` puts `JSON.parse`'s message in the issue,
 * and that message quotes the start of the body: a payload must never reach a log.
 */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'the body is not JSON', fatal: true });
        return z.NEVER;
      }
    })
    .pipe(schema);

/**
 * One S3 event record, as Powertools' schema has it except for the source address: S3 reports IPv6
 * clients too, and Powertools accepts only IPv4.
 */
const S3EventRecordSchema = S3Schema.shape.Records.element.extend({
  requestParameters: z.object({ sourceIPAddress: z.string() }),
});

/** The message S3 sends to a queue when a notification is configured: nothing to process. */
const S3TestEventSchema = z.object({ Service: z.literal('Amazon S3'), Event: z.literal('s3:TestEvent') });

/**
 * An SQS record of an upload queue: its body is an S3 event notification (at least one record) or S3's
 * test event. Anything else is malformed, and no retry can cure it.
 */
export const UploadMessageSchema = SqsRecordSchema.extend({
  body: jsonText(z.union([S3TestEventSchema, z.object({ Records: z.array(S3EventRecordSchema).min(1) })])),
});

/** An SQS record that {@link UploadMessageSchema} accepted. */
export type UploadMessage = z.infer<typeof UploadMessageSchema>;

/** The objects a message names to be processed: its `ObjectCreated:*` records, keys URL-decoded. */
export function objectsOfMessage(message: UploadMessage): UploadedObject[] {
  if (!('Records' in message.body)) return [];
  return message.body.Records.filter((r) => r.eventName.startsWith('ObjectCreated:')).map((r) => ({
    bucket: r.s3.bucket.name,
    key: decodedKey(r.s3.object.key),
    ...(r.s3.object.eTag ? { etag: r.s3.object.eTag } : {}),
    ...(r.s3.object.versionId ? { versionId: r.s3.object.versionId } : {}),
    ...(r.s3.object.size !== undefined ? { size: r.s3.object.size } : {}),
  }));
}

/** A key as S3 events carry it, decoded; one that is not URL-encoded makes the message malformed. */
function decodedKey(key: string): string {
  try {
    return decodeEventKey(key);
  } catch {
    throw new ParsingError('an object key is not URL-encoded');
  }
}

/** Runs at most `limit` tasks at once, the others waiting in order. */
function limiter(limit: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((start) => waiting.push(start));
    else running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `running` never exceeds the limit.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** Powertools' batch logger, kept quiet: its parse messages are logged per message below, with the id. */
const quietLogger = { debug: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The upload handler, on Powertools' {@link BatchProcessor}: each SQS record is parsed with
 * {@link UploadMessageSchema} and its S3 objects are processed, at most `concurrency` messages at once.
 * A record reported in `batchItemFailures` returns to the queue alone, its neighbours are acknowledged:
 *
 * | message                                         | outcome                                    |
 * | ----------------------------------------------- | ------------------------------------------ |
 * | S3 objects processed, or written to `errors/`   | acknowledged                               |
 * | S3's `s3:TestEvent`; records other than created | acknowledged, nothing done                 |
 * | a failure a retry may cure (S3 5xx, model load) | item failure: delivered again              |
 * | malformed (not JSON, not an S3 event, bad key)  | item failure: the DLQ after its receives   |
 *
 * A message names objects that are skipped once they have a result, so a redelivery does no work twice.
 *
 * @param concurrency - messages processed at once, a positive integer.
 * @throws RangeError when `concurrency` is not a positive integer (none at all would acknowledge nothing).
 */
export function createSqsUploadHandler(processor: UploadProcessor, concurrency = 2): UploadHandler {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`upload concurrency must be a positive integer, got ${concurrency}`);
  }
  const slot = limiter(concurrency);
  const processMessage = async (message: UploadMessage): Promise<void> => {
    for (const object of objectsOfMessage(message)) {
      const outcome = await processor.process(object);
      log.info('upload', { messageId: message.messageId, key: object.key, ...outcome });
    }
  };

  return async (event) => {
    // A processor holds the state of one batch: one per call, as calls may overlap.
    const batch = new BatchProcessor(EventType.SQS, {
      parser,
      schema: UploadMessageSchema,
      logger: quietLogger,
    });
    const response = await processPartialResponse(
      event,
      (message: UploadMessage) => slot(() => processMessage(message)),
      batch,
      // Every record fails alone, even all of them: the caller deletes nothing and they come back.
      { processInParallel: true, throwOnFullBatchFailure: false },
    );
    for (const [i, record] of batch.failureMessages.entries()) {
      const error = batch.errors[i];
      const messageId = (record as { messageId?: string }).messageId;
      if (error instanceof ParsingError) {
        log.warn('message is not an S3 event notification; left for the dead-letter queue', {
          messageId,
          errorMessage: error.message,
        });
      } else {
        log.warn('upload failed; left for retry', { messageId, ...describeError(error) });
      }
    }
    return response;
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
  return createSqsUploadHandler(processor, loadSettings().UPLOAD_CONCURRENCY);
}
