import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadHandler } from '../../../functions/core/adapters/sqs-upload.ts';
import { type FaultyProxy, startFaultyProxy } from '../../support/faulty-proxy.ts';
import { renderText, stackLines } from '../../support/render-text.ts';
import { S3_TEST_EVENT, s3Record, sqsEvent, sqsMessage } from '../../support/s3-events.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';

const BUCKET = 'uploads';
const MAX_UPLOAD = 300_000;

describe('the image upload handler (SQS messages of S3 events)', () => {
  let s3: S3rverHandle;
  let proxy: FaultyProxy;
  let client: S3Client;
  let handler: UploadHandler;
  let cacheDir: string;
  const pages = new Map<string, Uint8Array>();

  const put = async (key: string, body: Uint8Array | string) => {
    const { ETag } = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    return s3Record(BUCKET, key, {
      eTag: (ETag ?? '').replace(/"/g, ''),
      size: typeof body === 'string' ? body.length : body.byteLength,
    });
  };
  const read = async (key: string) => {
    const { Body } = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return JSON.parse(await (Body as { transformToString(): Promise<string> }).transformToString());
  };
  const keys = async (prefix: string) =>
    ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
      (o) => o.Key,
    );
  const putsTo = (key: string) => proxy.seen.filter((s) => s === `PUT /${BUCKET}/${key}`).length;
  const getsOf = (key: string) => proxy.seen.filter((s) => s === `GET /${BUCKET}/${key}`).length;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    proxy = await startFaultyProxy(s3.endpoint);
    client = new S3Client({
      endpoint: s3.endpoint,
      region: S3RVER_REGION,
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
    });
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-uploads-'));
    // The Lambda entry reads its configuration from the environment, as on AWS.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
      AWS_REGION: S3RVER_REGION,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      MODEL_REPOSITORY: resolve('models'),
      MODEL_CACHE_DIR: cacheDir,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
    });
    ({ handler } = await import('../../../functions/image/upload-handler.ts'));
    for (const text of ['invoice 1001 paid', 'invoice 1002 due', 'receipt 77 coffee', 'scan of page 9']) {
      pages.set(
        text,
        await renderText({ width: 520, height: 110, lines: stackLines([{ text, fontSize: 34 }]) }),
      );
    }
  });

  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
    await rm(cacheDir, { recursive: true, force: true });
    for (const name of ['AWS_ENDPOINT_URL_S3', 'MODEL_REPOSITORY', 'MODEL_CACHE_DIR', 'MAX_UPLOAD_BYTES'])
      delete process.env[name];
  });

  it('writes the text of an image uploaded under incoming/image/ to results/image/<key>.json', async () => {
    const record = await put('incoming/image/inv-1001.png', pages.get('invoice 1001 paid') as Uint8Array);

    const response = await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(response).toEqual({ batchItemFailures: [] });
    const result = await read('results/image/inv-1001.png.json');
    expect(result).toMatchObject({
      model: 'ppocr-v4@3',
      text: 'invoice 1001 paid',
      source: { bucket: BUCKET, key: 'incoming/image/inv-1001.png', etag: record.s3.object.eTag },
    });
    expect(result.timings.total).toBeGreaterThan(0);
  });

  it('writes one result when the same event is delivered twice', async () => {
    const record = await put('incoming/image/twice.png', pages.get('invoice 1002 due') as Uint8Array);
    const message = sqsMessage({ Records: [record] });

    await handler(sqsEvent(message));
    await handler(sqsEvent(message));

    expect(putsTo('results/image/twice.png.json')).toBe(1);
    expect((await read('results/image/twice.png.json')).text).toBe('invoice 1002 due');
  });

  it('processes a newer version of the same key again', async () => {
    const first = await put('incoming/image/versioned.png', pages.get('invoice 1001 paid') as Uint8Array);
    await handler(sqsEvent(sqsMessage({ Records: [first] })));

    const second = await put('incoming/image/versioned.png', pages.get('receipt 77 coffee') as Uint8Array);
    await handler(sqsEvent(sqsMessage({ Records: [second] })));

    const result = await read('results/image/versioned.png.json');
    expect(result.text).toBe('receipt 77 coffee');
    expect(result.source.etag).toBe(second.s3.object.eTag);
  });

  it('sends a garbage file to errors/ and reports only the message that may succeed on retry', async () => {
    const good = await put('incoming/image/good.png', pages.get('scan of page 9') as Uint8Array);
    const garbage = await put('incoming/image/garbage.png', 'this is not a picture at all');
    const flaky = await put('incoming/image/flaky.png', pages.get('receipt 77 coffee') as Uint8Array);
    const flakyMessage = sqsMessage({ Records: [flaky] });
    // More 5xx answers than the SDK retries (3 attempts): the failure reaches the handler.
    proxy.failNext(3, (method, path) => method === 'GET' && path.endsWith('/incoming/image/flaky.png'));

    const response = await handler(
      sqsEvent(sqsMessage({ Records: [good] }), sqsMessage({ Records: [garbage] }), flakyMessage),
    );
    const retried = await handler(sqsEvent(flakyMessage));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: flakyMessage.messageId }]);
    expect(await read('errors/image/garbage.png.json')).toMatchObject({
      status: 422,
      source: { key: 'incoming/image/garbage.png' },
    });
    expect(await keys('results/image/garbage')).toEqual([]);
    expect((await read('results/image/good.png.json')).text).toBe('scan of page 9');
    expect(retried.batchItemFailures).toEqual([]);
    expect((await read('results/image/flaky.png.json')).text).toBe('receipt 77 coffee');
  });

  it('retries an S3 5xx on the first GET and succeeds in the same delivery', async () => {
    const record = await put('incoming/image/one-fault.png', pages.get('invoice 1001 paid') as Uint8Array);
    proxy.failNext(1, (method, path) => method === 'GET' && path.endsWith('/incoming/image/one-fault.png'));

    const response = await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(response.batchItemFailures).toEqual([]);
    expect(getsOf('incoming/image/one-fault.png')).toBe(2);
    expect((await read('results/image/one-fault.png.json')).text).toBe('invoice 1001 paid');
  });

  it('round-trips a key with spaces and unicode, URL-encoded in the event as S3 sends it', async () => {
    const key = "incoming/image/scans/Zoë's invoice №1 +copy.png";
    const record = await put(key, pages.get('invoice 1002 due') as Uint8Array);

    const response = await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(record.s3.object.key).toBe('incoming/image/scans/Zo%C3%AB%27s+invoice+%E2%84%961+%2Bcopy.png');
    expect(response.batchItemFailures).toEqual([]);
    const result = await read("results/image/scans/Zoë's invoice №1 +copy.png.json");
    expect(result.source.key).toBe(key);
    expect(result.text).toBe('invoice 1002 due');
  });

  it('refuses an object over the size limit into errors/ without reading it', async () => {
    const noise = await sharp({
      create: {
        width: 400,
        height: 400,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png()
      .toBuffer();
    expect(noise.byteLength).toBeGreaterThan(MAX_UPLOAD);
    const record = await put('incoming/image/huge.png', new Uint8Array(noise));

    const response = await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(response.batchItemFailures).toEqual([]);
    expect(await read('errors/image/huge.png.json')).toMatchObject({ status: 413 });
    expect(getsOf('incoming/image/huge.png')).toBe(0);
  });

  it('writes an error for a task this function does not serve', async () => {
    const record = await put('incoming/video/clip.mp4', 'not served');

    await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(await read('errors/video/clip.mp4.json')).toMatchObject({ status: 415 });
  });

  it("acknowledges S3's test event and leaves messages that are not S3 events to the dead-letter queue", async () => {
    const notJson = sqsMessage('not json');
    const notS3 = sqsMessage({ hello: 'world' });

    const response = await handler(sqsEvent(sqsMessage(S3_TEST_EVENT), notJson, notS3));

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: notJson.messageId }, { itemIdentifier: notS3.messageId }],
    });
  });

  it('ignores objects outside incoming/, so results never trigger processing again', async () => {
    const before = await keys('results/');
    const record = s3Record(BUCKET, 'results/image/inv-1001.png.json', { eTag: 'x', size: 10 });

    const response = await handler(sqsEvent(sqsMessage({ Records: [record] })));

    expect(response.batchItemFailures).toEqual([]);
    expect(await keys('results/')).toEqual(before);
  });
});
