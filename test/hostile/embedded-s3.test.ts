/**
 * Issue 10, finding 2: one long key stopped all upload processing. A file name of 241+ characters killed
 * s3rver's process while HTTP stayed ready and accepted uploads were given up; 234–240 characters left a
 * half-written object that failed every later listing of `incoming/`, so restarts skipped the backlog.
 * Now such keys are a 400, a dead s3rver makes the server not ready and is restarted, the uploads it held
 * are processed once it is back, and a listing skips (and logs) an entry it cannot read.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
  objectKeyProblem,
} from '../../functions/core/uploads/upload-keys.ts';
import {
  EMBEDDED_S3_CREDENTIALS,
  EMBEDDED_S3_REGION,
  startEmbeddedS3,
} from '../../functions/server/embedded-s3.ts';
import { hamText, spamText } from '../core/uploads/text-upload-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';

/** The JSON log lines a server printed on stderr. */
const logLines = (server: LocalServer) =>
  server.output.stderr.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as { level: string; message: string } & Record<string, unknown>];
    } catch {
      return [];
    }
  });

const keysUnder = async (server: LocalServer, prefix: string) => {
  const listed = await server.s3.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key);
};

describe('the embedded S3 and the upload processor', () => {
  let work: string;
  let s3: Awaited<ReturnType<typeof startEmbeddedS3>>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-hostile-parity-'));
    s3 = await startEmbeddedS3({ directory: join(work, 'data'), port: 0, buckets: ['uploads'] });
  });

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** A PUT of `key`, each segment percent-encoded as an SDK would send it. */
  const put = (key: string) =>
    new Promise<number>((resolve, reject) => {
      const path = `/uploads/${key.split('/').map(encodeURIComponent).join('/')}`;
      // The path option, not a URL: a URL's parser resolves `.` and `..` before anything is sent.
      const { hostname, port } = new URL(s3.endpoint);
      const sent = request({ host: hostname, port, path, method: 'PUT' }, (answer) => {
        answer.resume();
        resolve(answer.statusCode ?? 0);
      });
      sent.on('error', reject);
      sent.end('x');
    });

  // The child checks keys with its own copy of the rules (it is plain JavaScript): both must agree.
  it.each([
    'incoming/text/scan.txt',
    'incoming/text/Zoë and the 日本語 notes (2).txt',
    'incoming/text/a..b/.hidden/...',
    'incoming/text/folder/',
    `incoming/text/${'é'.repeat(MAX_SEGMENT_BYTES / 2)}x`,
    `${'a/'.repeat(MAX_KEY_BYTES / 2 - 1)}ab`,
    'incoming/text/../../x',
    'incoming/text/./x',
    'incoming/text/.',
    'incoming//x',
    'incoming/text/a\u0000b',
    'incoming/text/a\u007fb',
    'incoming/text/a\u0085b',
    `incoming/text/${'a'.repeat(MAX_SEGMENT_BYTES + 1)}`,
    `incoming/text/${'é'.repeat(117)}`,
    `${'a/'.repeat(MAX_KEY_BYTES / 2)}a`,
  ])('stores %j exactly when the key rules accept it', async (key) => {
    const status = await put(key);

    expect({ key, stored: status === 200 }).toEqual({ key, stored: objectKeyProblem(key) === undefined });
    expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
  });

  it('shows an object only whole, to a reader polling while it is written', async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: EMBEDDED_S3_REGION,
      credentials: EMBEDDED_S3_CREDENTIALS,
      forcePathStyle: true,
    });
    const size = 24 * 2 ** 20;
    const body = new Uint8Array(size).fill(7);
    const seen: number[] = [];
    let writing = true;
    const poll = async () => {
      while (writing) {
        const length = await client
          .send(new GetObjectCommand({ Bucket: 'uploads', Key: 'big/whole.bin' }))
          .then(
            async (object) => (await object.Body?.transformToByteArray())?.length ?? -1,
            () => undefined,
          );
        if (length !== undefined) seen.push(length);
      }
    };
    const readers = [poll(), poll()];
    await client.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'big/whole.bin', Body: body }));
    // Answered: the object is whole from this moment.
    const after = await client.send(new GetObjectCommand({ Bucket: 'uploads', Key: 'big/whole.bin' }));
    const afterLength = (await after.Body?.transformToByteArray())?.length;
    writing = false;
    await Promise.all(readers);
    client.destroy();

    expect(afterLength).toBe(size);
    expect(seen.filter((length) => length !== size)).toEqual([]);
  });
});

describe("npm start's embedded S3 under keys too long for its files, and its death", () => {
  let work: string;
  let port: number;
  let server: LocalServer;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-hostile-s3-'));
    port = await freePort();
    server = await startLocalServer({
      directory: work,
      port,
      s3Port: await freePort(),
      env: { TASKS: 'text/classify', LOG_LEVEL: 'info' },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it.each([234, 240, 241, 300])(
    'refuses a %i-character file name with a 400 and keeps serving',
    async (length) => {
      const pid = await server.embeddedS3Pid();

      const answer = await server.s3Request('PUT', `/uploads/incoming/text/${'a'.repeat(length)}`, 'hello');

      expect(answer.status).toBe(400);
      expect(answer.body).toContain('KeyTooLongError');
      expect(await server.embeddedS3Pid()).toBe(pid);
      expect(await keysUnder(server, 'incoming/')).toEqual([]);
    },
  );

  it(`stores a ${MAX_SEGMENT_BYTES}-character name whole, and lists it`, async () => {
    const name = 'b'.repeat(MAX_SEGMENT_BYTES);

    const answer = await server.s3Request('PUT', `/uploads/incoming/text/${name}`, 'hello');

    expect(answer.status).toBe(200);
    expect(await keysUnder(server, 'incoming/')).toEqual([`incoming/text/${name}`]);
  });

  it('answers not ready while s3rver is dead, restarts it and processes the uploads it had accepted', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `before-crash-${i}.txt`);
    const pid = (await server.embeddedS3Pid()) as number;
    const answers = await Promise.all(
      names.map((name, i) =>
        server.s3Request('PUT', `/uploads/incoming/text/${name}`, i % 2 ? hamText(i) : spamText(i)),
      ),
    );
    // Frozen first, so that the uploads still queued stay unprocessed until it is killed.
    process.kill(pid, 'SIGSTOP');
    const done = await readdir(join(work, 'data/uploads/results/text')).catch(() => []);
    const ready = () => fetch(`http://127.0.0.1:${port}/v2/health/ready`).then((r) => r.status);

    process.kill(pid, 'SIGKILL');

    expect(answers.map((a) => a.status)).toEqual(names.map(() => 200));
    expect(done.filter((file) => file.endsWith('._S3rver_metadata.json')).length).toBeLessThan(names.length);
    await expect.poll(ready, { interval: 10, timeout: 5_000 }).toBe(503);
    await expect.poll(ready, { interval: 50, timeout: 20_000 }).toBe(200);
    expect(await server.embeddedS3Pid()).not.toBe(pid);
    await expect
      .poll(() => keysUnder(server, 'results/text/before-crash-'), { timeout: 30_000 })
      .toEqual(names.map((name) => `results/text/${name}.json`).sort());
    expect(logLines(server).find((l) => l.message.startsWith('embedded S3 server is down'))).toMatchObject({
      level: 'ERROR',
      signal: 'SIGKILL',
    });
  });
});

describe('npm start on a data folder with a half-written object from an older version', () => {
  let work: string;
  let server: LocalServer;
  const broken = 'c'.repeat(236);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-hostile-listing-'));
    const data = join(work, 'data');
    // A backlog upload stored while the server was down, and beside it what s3rver left of a 236-character
    // name: the object file fit in 255 bytes, its `._S3rver_metadata.json` did not.
    const s3 = await startEmbeddedS3({ directory: data, port: 0, buckets: ['uploads'] });
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: EMBEDDED_S3_REGION,
      credentials: EMBEDDED_S3_CREDENTIALS,
      forcePathStyle: true,
    });
    await client.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'incoming/text/backlog.txt', Body: spamText(7) }),
    );
    await s3.stop();
    await mkdir(join(data, 'uploads/incoming/text'), { recursive: true });
    await writeFile(join(data, 'uploads/incoming/text', `${broken}._S3rver_object`), 'half');

    server = await startLocalServer({
      directory: work,
      port: await freePort(),
      s3Port: await freePort(),
      env: { TASKS: 'text/classify', LOG_LEVEL: 'warn' },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('processes the backlog and logs the key of the entry it skips', async () => {
    await expect
      .poll(() => keysUnder(server, 'results/text/'), { timeout: 20_000 })
      .toEqual(['results/text/backlog.txt.json']);
    expect(await keysUnder(server, 'incoming/')).toEqual(['incoming/text/backlog.txt']);
    expect(logLines(server).find((l) => l.message.includes('cannot read'))).toMatchObject({
      level: 'WARN',
      bucket: 'uploads',
      key: `incoming/text/${broken}`,
    });
  });
});
