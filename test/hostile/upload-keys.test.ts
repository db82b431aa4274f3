/**
 * Issue 10, finding 1: upload keys with `..` segments (raw, `%2e%2e` or `%2F`-encoded) made the embedded S3
 * store objects outside its data folder and in the models bucket, and the upload processor followed them
 * with its records. Keys are now checked against one set of rules by the embedded S3 (a 400) and by the
 * upload processor (before any request with the key).
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
  objectKeyProblem,
} from '../../functions/core/uploads/upload-keys.ts';
import { startTextUploads, type TextUploads, UPLOADS_BUCKET } from '../core/uploads/text-upload-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { s3Record, sqsMessage } from '../support/s3-events.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('the object key rules', () => {
  it.each([
    'incoming/image/scan.png',
    'incoming/text/Zoë and the 日本語 notes (2).txt',
    'incoming/text/a..b/.hidden/...',
    'incoming/text/',
    `incoming/text/${'é'.repeat(MAX_SEGMENT_BYTES / 2)}x`,
    `${'a/'.repeat(MAX_KEY_BYTES / 2 - 1)}ab`,
  ])('accepts %j', (key) => {
    expect(objectKeyProblem(key)).toBeUndefined();
  });

  it.each([
    ['incoming/image/../../../../escape/pwn.png', '".." segment'],
    ['../x', '".." segment'],
    ['incoming/image/./scan.png', '"." segment'],
    ['incoming//scan.png', 'empty segment'],
    ['/incoming/image/scan.png', 'empty segment'],
    ['', 'empty'],
    ['incoming/image/a\u0000b.png', 'control character'],
    ['incoming/image/a\nb.png', 'control character'],
    ['incoming/image/a\u0085b.png', 'control character'],
    ['incoming/image/a\ud800b.png', 'not valid Unicode'],
    [`incoming/image/${'a'.repeat(MAX_SEGMENT_BYTES + 1)}`, `over the limit of ${MAX_SEGMENT_BYTES}`],
    [`incoming/image/${'é'.repeat(117)}`, `234 bytes long, over the limit of ${MAX_SEGMENT_BYTES}`],
    [`${'a/'.repeat(MAX_KEY_BYTES / 2)}a`, `over the limit of ${MAX_KEY_BYTES}`],
  ])('refuses %j, saying why', (key, why) => {
    expect(objectKeyProblem(key)).toContain(why);
  });
});

describe("npm start's embedded S3 with a key that leaves its bucket", () => {
  let work: string;
  let data: string;
  let server: LocalServer;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-hostile-keys-'));
    data = join(work, 'data');
    server = await startLocalServer({
      directory: work,
      port: await freePort(),
      s3Port: await freePort(),
      env: { TASKS: 'text/classify' },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it.each([
    ['raw', '/uploads/incoming/text/../../../../escape/pwn.txt', '../../../../escape/pwn.txt'],
    [
      '%2e%2e',
      '/uploads/incoming/text/%2e%2e/%2E%2E/%2e%2e/%2e%2e/escape/pwn.txt',
      '../../../../escape/pwn.txt',
    ],
    ['%2F', '/uploads/incoming/text/..%2F..%2F..%2F..%2Fescape%2Fpwn.txt', '../../../../escape/pwn.txt'],
    [
      'models bucket',
      '/uploads/incoming/text/../../../models/spam-fasttext/2/pwn.txt',
      '../../../models/spam-fasttext/2/pwn.txt',
    ],
  ])('refuses a PUT through ".." (%s) with a 400 and stores nothing there', async (_, path, rest) => {
    // Where s3rver would have put it: the key joined to the bucket's folder, `..` resolved.
    const target = `${resolve(data, 'uploads', 'incoming/text', rest)}._S3rver_object`;

    const answer = await server.s3Request('PUT', path, 'WIN CASH NOW!!! Click here to claim your prize');

    expect(answer.status).toBe(400);
    expect(answer.body).toContain('segment');
    expect(await exists(target)).toBe(false);
  });

  it('refuses a copy whose source key climbs into the models bucket', async () => {
    const answer = await server.s3Request('PUT', '/uploads/incoming/text/copied.json', '', {
      'x-amz-copy-source': '/uploads/../models/spam-fasttext/2/featurizer.json',
    });

    expect(answer.status).toBe(400);
    expect(await exists(join(data, 'uploads/incoming/text/copied.json._S3rver_object'))).toBe(false);
  });

  it('refuses a bucket name of ".." with a 400', async () => {
    const answer = await server.s3Request('PUT', '/%2e%2e/escape/pwn.txt', 'x');

    expect(answer.status).toBe(400);
    expect(await exists(join(work, 'escape'))).toBe(false);
  });

  it('leaves the models bucket as it was published', async () => {
    const listed = await server.s3.send(new ListObjectsV2Command({ Bucket: 'models' }));

    expect((listed.Contents ?? []).map((o) => o.Key).filter((k) => k?.endsWith('pwn.txt'))).toEqual([]);
  });

  it('still stores and processes a well-formed upload', async () => {
    const answer = await server.s3Request(
      'PUT',
      '/uploads/incoming/text/fine.txt',
      'WIN CASH NOW!!! Click here',
    );

    expect(answer.status).toBe(200);
    await expect
      .poll(() => exists(join(data, 'uploads/results/text/fine.txt.json._S3rver_object')), {
        timeout: 20_000,
      })
      .toBe(true);
  });
});

describe('the upload processor with a key real S3 would store', () => {
  let uploads: TextUploads;
  let logged: string[];

  beforeAll(async () => {
    uploads = await startTextUploads();
  });

  afterAll(async () => {
    await uploads?.close();
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  const captureLog = () => {
    vi.stubEnv('LOG_LEVEL', 'info');
    logged = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((line) => {
      logged.push(String(line));
      return true;
    });
  };

  it('acknowledges a key with ".." segments without a request to S3, and logs it', async () => {
    const key = 'incoming/text/../../../../escape/pwn.txt';
    const event = sqsMessage({ Records: [s3Record(UPLOADS_BUCKET, key, { eTag: 'abc', size: 10 })] });
    const before = uploads.proxy.seen.length;
    captureLog();

    const response = await uploads.handler()({ Records: [event] });

    expect(response.batchItemFailures).toEqual([]);
    expect(uploads.proxy.seen.slice(before)).toEqual([]);
    const refusal = logged
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as { message: string }];
        } catch {
          return [];
        }
      })
      .find((l) => l.message.startsWith('upload key refused'));
    expect(refusal).toMatchObject({ level: 'WARN', key, problem: 'the key has a ".." segment' });
  });

  it('writes an error record, without reading the upload, when only its result key would be too long', async () => {
    // 1021 bytes: S3 stores it, but `results/text/<name>.json` would be 1025 bytes; `errors/...` is 1024.
    const name = `${'n'.repeat(200)}/`.repeat(5) + 'a'.repeat(2);
    const key = `incoming/text/${name}`;
    expect(Buffer.byteLength(key)).toBe(MAX_KEY_BYTES - 3);
    await uploads.client.send(
      new PutObjectCommand({ Bucket: UPLOADS_BUCKET, Key: key, Body: 'hello there' }),
    );
    const event = sqsMessage({ Records: [s3Record(UPLOADS_BUCKET, key, { eTag: 'abc', size: 11 })] });
    const before = uploads.proxy.seen.length;

    const response = await uploads.handler()({ Records: [event] });

    expect(response.batchItemFailures).toEqual([]);
    expect(uploads.proxy.seen.slice(before)).toEqual([`PUT /${UPLOADS_BUCKET}/errors/text/${name}.json`]);
    const record = await uploads.readJson(`errors/text/${name}.json`);
    expect(record).toMatchObject({ status: 400, source: { key } });
    expect(record.error).toContain("its result's key would break a rule");
  });
});
