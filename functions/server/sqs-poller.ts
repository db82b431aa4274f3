/**
 * Consumes upload queues from a long-running server (the GPU container): long-polls SQS, hands each batch
 * to the same upload handler the Lambda tier runs (as an `SQSEvent`), deletes the messages it processed and
 * leaves the failed ones to come back after their visibility timeout (and, past the queue's
 * `maxReceiveCount`, to go to its dead-letter queue), as Lambda's partial batch responses do.
 *
 * Env (see {@link pollUploadQueuesFromEnv}): `UPLOAD_QUEUE_URLS` (comma-separated), `UPLOAD_CONCURRENCY`.
 */
import { S3Client } from '@aws-sdk/client-s3';
import {
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
    command: ReceiveMessageCommand | DeleteMessageBatchCommand,
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
}

/** A running poller. */
export interface SqsPoller {
  /**
   * Stops receiving, aborts the waiting long polls and resolves once the batches in hand are done: their
   * processed messages deleted, the others (failed, or refused because the server stopped before their
   * turn) left in the queue for redelivery after their visibility timeout.
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
    const { batchItemFailures } = await options.handler({ Records: records });
    const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
    const done = records.filter((record) => !failed.has(record.messageId));
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
  const poller = startSqsPoller({ client: new SQSClient({}), queueUrls, handler });
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
