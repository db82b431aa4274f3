import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3EventRecord, SQSRecord } from 'aws-lambda';
import { createSqsUploadHandler, type UploadHandler } from '../../../functions/core/adapters/sqs-upload.ts';
import { InferenceService } from '../../../functions/core/inference-service.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import type { ModelStore } from '../../../functions/core/model-store/types.ts';
import { UploadProcessor } from '../../../functions/core/uploads/upload-processor.ts';
import { textClassifyTask } from '../../../functions/text/task.ts';
import { type FaultyProxy, startFaultyProxy } from '../../support/faulty-proxy.ts';
import { s3Record } from '../../support/s3-events.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

export const UPLOADS_BUCKET = 'uploads';

/**
 * The upload path of the text function against s3rver: the processor's S3 traffic passes through a
 * {@link FaultyProxy}, the test's own reads and writes go straight to s3rver (so the proxy counts only
 * what the processor does). Text uploads are the cheapest real inputs: the model classifies in microseconds.
 */
export interface TextUploads {
  readonly s3: S3rverHandle;
  readonly proxy: FaultyProxy;
  /** A client straight to s3rver. */
  readonly client: S3Client;
  /** A client through the proxy, as the processor uses. */
  readonly proxiedClient: S3Client;
  readonly service: InferenceService;
  readonly processor: UploadProcessor;
  /** The real upload handler over {@link TextUploads.processor}. */
  handler(concurrency?: number): UploadHandler;
  /** Uploads a text under `incoming/text/` and returns the S3 event record AWS would send for it. */
  put(name: string, text: string): Promise<S3EventRecord>;
  /** The parsed JSON object at `key`. */
  readJson(key: string): Promise<Record<string, unknown>>;
  /** Keys under `prefix` (every page). */
  keys(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Options of {@link startTextUploads}. */
export interface TextUploadsOptions {
  /** The model store; default: the built `models/` folder, verified in place. */
  readonly store?: (proxiedClient: S3Client, s3: S3rverHandle) => ModelStore;
  /** Extra buckets. */
  readonly buckets?: readonly string[];
}

/** Starts s3rver, the proxy in front of it and the text task's upload processor. */
export async function startTextUploads(options: TextUploadsOptions = {}): Promise<TextUploads> {
  const s3 = await startS3rver({ buckets: [UPLOADS_BUCKET, ...(options.buckets ?? [])] });
  const proxy = await startFaultyProxy(s3.endpoint);
  const clientOf = (endpoint: string) =>
    new S3Client({
      endpoint,
      region: S3RVER_REGION,
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
    });
  const client = clientOf(s3.endpoint);
  const proxiedClient = clientOf(proxy.endpoint);
  const cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-text-uploads-'));
  const store =
    options.store?.(proxiedClient, s3) ?? createModelStore({ repository: resolve('models'), cacheDir });
  const service = new InferenceService({
    store,
    tasks: [{ definition: textClassifyTask, model: { name: 'spam-fasttext' } }],
  });
  const processor = new UploadProcessor({ service, s3: proxiedClient, maxObjectBytes: 64 * 1024 });

  const keys = async (prefix: string) => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: UPLOADS_BUCKET,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) found.push(object.Key);
      token = page.NextContinuationToken;
    } while (token);
    return found;
  };

  return {
    s3,
    proxy,
    client,
    proxiedClient,
    service,
    processor,
    handler: (concurrency = 2) => createSqsUploadHandler(processor, concurrency),
    async put(name, text) {
      const key = `incoming/text/${name}`;
      const { ETag } = await client.send(
        new PutObjectCommand({ Bucket: UPLOADS_BUCKET, Key: key, Body: text, ContentType: 'text/plain' }),
      );
      return s3Record(UPLOADS_BUCKET, key, {
        eTag: (ETag ?? '').replace(/"/g, ''),
        size: Buffer.byteLength(text),
      });
    },
    async readJson(key) {
      const { Body } = await client.send(new GetObjectCommand({ Bucket: UPLOADS_BUCKET, Key: key }));
      return JSON.parse(await (Body as { transformToString(): Promise<string> }).transformToString());
    },
    keys,
    async close() {
      await proxy.close();
      await s3.stop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** A message a spam filter should flag, and one it should let through, numbered so each upload differs. */
export const spamText = (n: number) =>
  `WIN CASH NOW!!! You have been selected for a $${n},000 prize. Click here to claim, limited offer, act now!`;
export const hamText = (n: number) =>
  `Hi team, the meeting about release ${n} moved to Thursday at 10am; the agenda is in the shared folder.`;

/** What {@link deliverUntilAcknowledged} saw: the messages that failed in each round. */
export interface Deliveries {
  readonly failedPerRound: string[][];
}

/**
 * Delivers `messages` as SQS would: in batches of `batchSize`, then again the ones reported in
 * `batchItemFailures`, until none fail or `maxRounds` is reached (a dead-letter queue's maxReceiveCount).
 */
export async function deliverUntilAcknowledged(
  handler: UploadHandler,
  messages: readonly SQSRecord[],
  options: { batchSize?: number; maxRounds?: number } = {},
): Promise<Deliveries> {
  const batchSize = options.batchSize ?? 10;
  const failedPerRound: string[][] = [];
  let pending = [...messages];
  for (let round = 0; round < (options.maxRounds ?? 5) && pending.length > 0; round++) {
    const failed: string[] = [];
    for (let i = 0; i < pending.length; i += batchSize) {
      const { batchItemFailures } = await handler({ Records: pending.slice(i, i + batchSize) });
      failed.push(...batchItemFailures.map((f) => f.itemIdentifier));
    }
    failedPerRound.push(failed);
    pending = pending.filter((m) => failed.includes(m.messageId));
  }
  return { failedPerRound };
}
