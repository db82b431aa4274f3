/**
 * Consumes upload queues from a long-running server (the GPU container): long-polls SQS, hands each batch
 * to the same upload handler the Lambda tier runs (as an `SQSEvent`), deletes the messages it processed and
 * leaves the failed ones to come back after their visibility timeout (and, past the queue's
 * `maxReceiveCount`, to go to its dead-letter queue), as Lambda's partial batch responses do. With a
 * `concurrency`, messages go to the handler one by one, that many at once, and those not yet handed over
 * when the poller stops are made visible again at once (visibility timeout 0), for another consumer now.
 *
 * Env (see {@link pollUploadQueuesFromEnv}): `UPLOAD_QUEUE_URLS` (comma-separated), `UPLOAD_CONCURRENCY`.
 */
import { S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { createSqsUploadHandler, type UploadHandler } from '../core/adapters/sqs-upload.ts';
import { loadSettings } from '../core/config/env.ts';
import type { InferenceService } from '../core/inference-service.ts';
import { describeError, log } from '../core/log.ts';
import { UploadProcessor } from '../core/uploads/upload-processor.ts';

/** What the poller needs of an SQS client: `send`, as `SQSClient` has it. */
export interface SqsSender {
  send(
    command: ReceiveMessageCommand | DeleteMessageBatchCommand | ChangeMessageVisibilityBatchCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<unknown>;
}

/** Options of {@link startSqsPoller}. */
export interface SqsPollerOptions {
  readonly client: SqsSender;
  /** The queues to consume, one polling loop each. */
  readonly queueUrls: readonly string[];
  /** Processes a batch; what it reports in `batchItemFailures` stays in the queue. */
  readonly handler: UploadHandler;
  /** Messages per receive, 1-10. Default 1: a GPU server processes one file at a time per queue. */
  readonly batchSize?: number;
  /** Long-poll wait, 0-20 seconds. Default 20. */
  readonly waitTimeSeconds?: number;
  /** Pause after a failed receive or delete, in ms. Default 5000. */
  readonly errorBackoffMs?: number;
  /**
   * Messages of a batch handled at once, each as an event of its own. Unset: the whole batch is one event
   * (the handler limits its own concurrency), and nothing of it can be given back at a stop.
   */
  readonly concurrency?: number;
}

/** A running poller. */
export interface SqsPoller {
  /**
   * Stops receiving, aborts the waiting long polls and resolves once the batches in hand are done: their
   * processed messages deleted, the failed ones (or those the server refused because it was stopping) left
   * for redelivery after their visibility timeout, and, with a `concurrency`, those never handed to the
   * handler made visible again at once.
   */
  stop(): Promise<void>;
}

/**
 * Starts one long-polling loop per queue.
 *
 * @example
 * ```ts
 * const poller = startSqsPoller({ client: new SQSClient({}), queueUrls: [url], handler });
 * process.once('SIGTERM', () => void poller.stop());
 * ```
 */
export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const abort = new AbortController();
  const batchSize = options.batchSize ?? 1;
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  const backoff = options.errorBackoffMs ?? 5000;

  const pollOnce = async (queueUrl: string): Promise<void> => {
    const received = (await options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: batchSize,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
      }),
      { abortSignal: abort.signal },
    )) as { Messages?: Message[] } | undefined;
    const messages = received?.Messages ?? [];
    if (messages.length === 0) return;
    const records = messages.map((message) => sqsRecord(queueUrl, message));
    const { failed, unstarted } = await handle(queueUrl, records);
    const done = records.filter((record) => !failed.has(record.messageId) && !unstarted.has(record));
    await Promise.all([deleteMessages(queueUrl, done), release(queueUrl, [...unstarted])]);
  };

  /** The batch through the handler: the ids it reported failed, and the records it was never given. */
  const handle = async (
    queueUrl: string,
    records: SQSRecord[],
  ): Promise<{ failed: Set<string>; unstarted: Set<SQSRecord> }> => {
    const concurrency = options.concurrency;
    if (concurrency === undefined) {
      const { batchItemFailures } = await options.handler({ Records: records });
      return { failed: new Set(batchItemFailures.map((f) => f.itemIdentifier)), unstarted: new Set() };
    }
    const failed = new Set<string>();
    const unstarted = new Set<SQSRecord>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < records.length) {
        const record = records[next++] as SQSRecord;
        // Once stopping, a message not begun is not begun: it goes back to the queue now.
        if (abort.signal.aborted) {
          unstarted.add(record);
          continue;
        }
        try {
          const { batchItemFailures } = await options.handler({ Records: [record] });
          for (const failure of batchItemFailures) failed.add(failure.itemIdentifier);
        } catch (error) {
          failed.add(record.messageId);
          log.warn('upload message failed; it will be delivered again', {
            queueUrl,
            messageId: record.messageId,
            ...describeError(error),
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return { failed, unstarted };
  };

  const deleteMessages = async (queueUrl: string, done: SQSRecord[]): Promise<void> => {
    if (done.length === 0) return;
    const deleted = (await options.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle })),
      }),
    )) as { Failed?: { Id?: string; Message?: string }[] } | undefined;
    // An undeleted message comes back after its visibility timeout; the handler skips what it has done.
    for (const failure of deleted?.Failed ?? [])
      log.warn('upload message not deleted; it will be delivered again', {
        queueUrl,
        error: failure.Message,
      });
  };

  /** Visibility timeout 0 for messages received and not begun: another consumer may take them at once. */
  const release = async (queueUrl: string, unstarted: SQSRecord[]): Promise<void> => {
    // At most 10 entries per call, as for every SQS batch action.
    for (let at = 0; at < unstarted.length; at += 10) {
      const part = unstarted.slice(at, at + 10);
      try {
        const changed = (await options.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: part.map((record, i) => ({
              Id: String(i),
              ReceiptHandle: record.receiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        )) as { Failed?: { Id?: string; Message?: string }[] } | undefined;
        for (const failure of changed?.Failed ?? [])
          log.warn('upload message not released; it comes back after its visibility timeout', {
            queueUrl,
            error: failure.Message,
          });
      } catch (error) {
        // Nothing is lost: the messages come back when their visibility timeout runs out.
        log.warn('upload messages not released; they come back after their visibility timeout', {
          queueUrl,
          messages: part.length,
          ...describeError(error),
        });
      }
    }
    if (unstarted.length > 0)
      log.info('upload messages not begun given back to the queue', { queueUrl, messages: unstarted.length });
  };

  const loop = async (queueUrl: string): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        await pollOnce(queueUrl);
      } catch (error) {
        if (abort.signal.aborted) break;
        log.warn('upload queue poll failed; retrying', { queueUrl, ...describeError(error) });
        await sleep(backoff, abort.signal);
      }
    }
  };

  const loops = options.queueUrls.map((url) => loop(url));
  return {
    async stop() {
      abort.abort();
      await Promise.all(loops);
    },
  };
}

/**
 * Consumes `UPLOAD_QUEUE_URLS` with the server's inference service, when set: the upload handler of the
 * Lambda tier over `UploadProcessor` (results and errors written with `s3Client`, or the default client).
 * Returns the poller, or `undefined` when the variable is unset; the server stops it when it drains.
 */
export function pollUploadQueuesFromEnv(
  service: InferenceService,
  s3Client: S3Client | undefined,
  env: NodeJS.ProcessEnv = process.env,
): SqsPoller | undefined {
  const settings = loadSettings(env);
  const queueUrls = settings.UPLOAD_QUEUE_URLS;
  if (queueUrls.length === 0) return undefined;
  const processor = new UploadProcessor({ service, s3: s3Client ?? new S3Client({}) });
  const handler = createSqsUploadHandler(processor, settings.UPLOAD_CONCURRENCY);
  // One message per receive, as before; handed over one by one, so a stop gives back what it never began.
  const poller = startSqsPoller({
    client: new SQSClient({}),
    queueUrls,
    handler,
    concurrency: settings.UPLOAD_CONCURRENCY,
  });
  log.info('consuming upload queues', { queues: queueUrls.length });
  return poller;
}

/** The Lambda event record of a received message; the queue ARN and region come from the queue URL. */
export function sqsRecord(queueUrl: string, message: Message): SQSRecord {
  const { region, arn } = queueArn(queueUrl);
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? '',
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? '',
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: region,
  };
}

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` → its region and ARN (best effort for other hosts). */
function queueArn(queueUrl: string): { region: string; arn: string } {
  const url = new URL(queueUrl);
  const [, account = '', name = ''] = url.pathname.split('/');
  const region = url.hostname.match(/^sqs\.([a-z0-9-]+)\./)?.[1] ?? process.env.AWS_REGION ?? '';
  return { region, arn: `arn:aws:sqs:${region}:${account}:${name}` };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      done();
    });
  });
}
