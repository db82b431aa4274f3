import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ChecksumMismatchError,
  ModelNotFoundError,
  RepositoryUnavailableError,
} from '../../../functions/core/errors.ts';
import { publishRepository } from '../../../functions/core/model-store/publish.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { fileOf, type TinyRepository, writeTinyRepository } from './tiny-repository.ts';

const BUCKET = 'models';
const REPOSITORY = `s3://${BUCKET}/repo`;

let s3: S3rverHandle;
let work: string;
let local: string;
let tiny: TinyRepository;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET], setEnv: true });
  work = await mkdtemp(join(tmpdir(), 'model-store-s3-'));
  local = join(work, 'repository');
  tiny = await writeTinyRepository(local);
  await publishRepository({ from: local, to: REPOSITORY, client: counted().client });
});

afterAll(async () => {
  await s3?.stop();
  await rm(work, { recursive: true, force: true });
});

/** A client for s3rver (found through AWS_ENDPOINT_URL_S3) that records the commands it sends. */
function counted(options: { endpoint?: string } = {}) {
  const client = new S3Client({
    region: S3RVER_REGION,
    credentials: S3RVER_CREDENTIALS,
    ...(options.endpoint && { endpoint: options.endpoint, maxAttempts: 1 }),
  });
  const gets: string[] = [];
  const lists: number[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string };
      if (context.commandName === 'GetObjectCommand' && input.Key) gets.push(input.Key);
      if (context.commandName === 'ListObjectsV2Command') lists.push(lists.length);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return { client, gets, lists };
}

async function freshCache(): Promise<string> {
  return mkdtemp(join(work, 'cache-'));
}

describe('model store over S3 (s3rver)', () => {
  it('downloads the files a variant needs and keeps them in the cache by sha256', async () => {
    const cacheDir = await freshCache();
    const { client, gets } = counted();
    const store = createModelStore({ repository: REPOSITORY, cacheDir, s3Client: client }, {});
    const manifest = tiny['tiny-cls/1'];

    const model = await store.load('tiny-cls', '1');

    expect(gets.sort()).toEqual([
      'repo/tiny-cls/1/labels.txt',
      'repo/tiny-cls/1/manifest.json',
      'repo/tiny-cls/1/model.onnx',
    ]);
    const modelHash = fileOf(manifest, 'model.onnx').sha256;
    const labelsHash = fileOf(manifest, 'labels.txt').sha256;
    expect((await readdir(join(cacheDir, 'sha256'))).sort()).toEqual([labelsHash, modelHash].sort());
    expect(model.files.get('model.onnx')).toBe(join(cacheDir, 'sha256', modelHash));
    expect(model.files.get('labels.txt')).toBe(join(cacheDir, 'sha256', labelsHash));
    expect(await readFile(join(cacheDir, 'sha256', labelsHash), 'utf8')).toBe('0\n180\n');
    expect(model.session?.inputNames).toEqual(['x']);
    expect(store.state('tiny-cls', '1')).toBe('READY');
  });

  it('serves a second load in a fresh store from the disk cache without downloading a file', async () => {
    const cacheDir = await freshCache();
    await createModelStore({ repository: REPOSITORY, cacheDir, s3Client: counted().client }, {}).load(
      'tiny-cls',
      '1',
    );
    const { client, gets } = counted();
    const restarted = createModelStore({ repository: REPOSITORY, cacheDir, s3Client: client }, {});

    const model = await restarted.load('tiny-cls', '1');

    expect(gets).toEqual(['repo/tiny-cls/1/manifest.json']);
    expect(model.session).toBeDefined();
  });

  it('downloads content shared by two versions once', async () => {
    const cacheDir = await freshCache();
    const { client, gets } = counted();
    const store = createModelStore({ repository: REPOSITORY, cacheDir, s3Client: client }, {});

    await store.load('tiny-cls', '2');
    await store.load('tiny-cls', '10');

    expect(gets.filter((key) => key.endsWith('model.onnx'))).toEqual(['repo/tiny-cls/2/model.onnx']);
  });

  it('shares one download per file and one session among 8 concurrent loads', async () => {
    const { client, gets } = counted();
    const store = createModelStore(
      { repository: REPOSITORY, cacheDir: await freshCache(), s3Client: client },
      {},
    );

    const models = await Promise.all(Array.from({ length: 8 }, () => store.load('tiny-cls', '1')));

    expect(gets.sort()).toEqual([
      'repo/tiny-cls/1/labels.txt',
      'repo/tiny-cls/1/manifest.json',
      'repo/tiny-cls/1/model.onnx',
    ]);
    expect(new Set(models.map((m) => m.session)).size).toBe(1);
    expect(models[0]?.session).toBeDefined();
  });

  it('refuses a tampered object, marks the model FAILED, and loads it once the object is fixed', async () => {
    const prefix = 's3://models/tampered';
    await publishRepository({ from: local, to: prefix, client: counted().client });
    const { client } = counted();
    const key = 'tampered/tiny-cls/1/labels.txt';
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '0\n90\n' }));
    const cacheDir = await freshCache();
    const store = createModelStore({ repository: prefix, cacheDir, s3Client: client }, {});
    const expected = fileOf(tiny['tiny-cls/1'], 'labels.txt').sha256;

    const failure = await store.load('tiny-cls', '1').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ChecksumMismatchError);
    expect((failure as Error).message).toMatch(
      new RegExp(
        `model "tiny-cls" version "1" file "labels.txt": expected sha256 ${expected} .*got [0-9a-f]{64}`,
      ),
    );
    expect(store.state('tiny-cls', '1')).toBe('FAILED');
    expect(store.peek('tiny-cls', '1')).toBeUndefined();
    expect(await readdir(join(cacheDir, 'sha256'))).toEqual([
      fileOf(tiny['tiny-cls/1'], 'model.onnx').sha256,
    ]);

    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '0\n180\n' }));
    const model = await store.load('tiny-cls', '1');
    expect(model.session).toBeDefined();
    expect(store.state('tiny-cls', '1')).toBe('READY');
  });

  it('downloads a corrupt cached file again', async () => {
    const cacheDir = await freshCache();
    await createModelStore({ repository: REPOSITORY, cacheDir, s3Client: counted().client }, {}).load(
      'tiny-cls',
      '2',
    );
    const hash = fileOf(tiny['tiny-cls/2'], 'model.onnx').sha256;
    const cached = join(cacheDir, 'sha256', hash);
    const original = await readFile(cached);
    await writeFile(cached, Buffer.alloc(original.length));
    const { client, gets } = counted();

    const model = await createModelStore({ repository: REPOSITORY, cacheDir, s3Client: client }, {}).load(
      'tiny-cls',
      '2',
    );

    expect(gets).toEqual(['repo/tiny-cls/2/manifest.json', 'repo/tiny-cls/2/model.onnx']);
    expect((await readFile(cached)).equals(original)).toBe(true);
    expect(model.files.get('model.onnx')).toBe(cached);
  });

  it('answers ModelNotFoundError for a missing model or version, naming what exists', async () => {
    const store = createModelStore(
      { repository: REPOSITORY, cacheDir: await freshCache(), s3Client: counted().client },
      {},
    );

    const unknownModel = await store.load('no-such-model', '1').catch((error: unknown) => error);
    const unknownVersion = await store.load('tiny-cls', '3').catch((error: unknown) => error);

    expect(unknownModel).toBeInstanceOf(ModelNotFoundError);
    expect((unknownModel as Error).message).toMatch(/available models: tiny-cls, tiny-ocr$/);
    expect(unknownVersion).toBeInstanceOf(ModelNotFoundError);
    expect((unknownVersion as Error).message).toMatch(/available versions: 1, 2, 10$/);
  });

  it('lists every model version across several ListObjectsV2 pages', async () => {
    const { client, lists } = counted();
    const store = createModelStore(
      { repository: REPOSITORY, cacheDir: await freshCache(), s3Client: client, listPageSize: 2 },
      {},
    );
    await store.load('tiny-ocr', '1');

    const index = await store.index();

    expect(index).toEqual([
      { name: 'tiny-cls', version: '1', state: 'UNAVAILABLE' },
      { name: 'tiny-cls', version: '2', state: 'UNAVAILABLE' },
      { name: 'tiny-cls', version: '10', state: 'UNAVAILABLE' },
      { name: 'tiny-ocr', version: '1', state: 'READY' },
    ]);
    expect(lists.length).toBeGreaterThan(3);
    expect(await store.manifest('tiny-cls')).toMatchObject({ name: 'tiny-cls', version: '10' });
  });

  it('finds s3rver through AWS_ENDPOINT_URL_S3 with the default client and MODEL_* settings', async () => {
    const cacheDir = await freshCache();
    vi.stubEnv('MODEL_REPOSITORY', REPOSITORY);
    vi.stubEnv('MODEL_CACHE_DIR', cacheDir);
    vi.stubEnv('MODEL_TIER', 'lambda');
    try {
      const store = createModelStore();

      const model = await store.load('tiny-cls', '1');

      expect(process.env.AWS_ENDPOINT_URL_S3).toBe(s3.endpoint);
      expect(store.location).toBe(`${REPOSITORY}/`);
      expect(model.variant).toBe('int8');
      expect((await readdir(join(cacheDir, 'sha256'))).sort()).toEqual(
        [
          fileOf(tiny['tiny-cls/1'], 'model-int8.onnx').sha256,
          fileOf(tiny['tiny-cls/1'], 'labels.txt').sha256,
        ].sort(),
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('answers RepositoryUnavailableError, transient, when S3 cannot be reached', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const store = createModelStore(
      { repository: REPOSITORY, cacheDir: await freshCache(), s3Client: counted({ endpoint }).client },
      {},
    );

    const failure = await store.index().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(RepositoryUnavailableError);
    expect((failure as RepositoryUnavailableError).transient).toBe(true);
    expect((failure as Error).cause).toBeDefined();
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}
