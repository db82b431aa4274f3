/**
 * Faults of S3 and the network while a model is downloaded into the disk cache, injected by a proxy in front
 * of s3rver: whatever breaks, no partial or unverified file is ever served, the next load succeeds, and
 * each load sends a bounded number of requests.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../functions/core/model-store/manifest.ts';
import { publishRepository } from '../../functions/core/model-store/publish.ts';
import { sha256File } from '../../functions/core/model-store/sha256-file.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import type { ModelStore } from '../../functions/core/model-store/types.ts';
import { writeModelVersion } from '../../functions/core/model-store/write-model.ts';
import { CLASSIFIER_ONNX } from '../core/model-store/tiny-repository.ts';
import { type FaultyProxy, type RequestMatch, startFaultyProxy } from '../support/faulty-proxy.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../support/s3rver.ts';

const BUCKET = 'models';
const NAME = 'fault-cls';

describe('model loading through a faulty S3', () => {
  let s3: S3rverHandle;
  let proxy: FaultyProxy;
  let client: S3Client;
  let work: string;
  let manifest: ModelManifest;
  let cacheDir: string;

  const weights = () => manifest.files.find((f) => f.path === 'model.onnx') as ModelManifest['files'][number];
  const getOf =
    (file: string): RequestMatch =>
    (method, path) =>
      method === 'GET' && path === `/${BUCKET}/${NAME}/1/${file}`;
  const freshStore = (): ModelStore =>
    createModelStore({ repository: `s3://${BUCKET}/`, s3Client: client, cacheDir });

  /** Every file in the cache: each must be named by its own sha256, so nothing else can be served. */
  const cacheContents = async () => {
    const names = (await readdir(cacheDir, { recursive: true })) as string[];
    const files: { name: string; verified: boolean }[] = [];
    for (const name of names) {
      const path = join(cacheDir, name);
      if (!(await stat(path)).isFile()) continue;
      files.push({ name, verified: name === join('sha256', await sha256File(path)) });
    }
    return files.sort((a, b) => a.name.localeCompare(b.name));
  };
  const verifiedCache = () =>
    manifest.files
      .map((f) => ({ name: join('sha256', f.sha256), verified: true }))
      .sort((a, b) => a.name.localeCompare(b.name));

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    proxy = await startFaultyProxy(s3.endpoint);
    client = new S3Client({
      endpoint: proxy.endpoint,
      region: S3RVER_REGION,
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
    });
    work = await mkdtemp(join(tmpdir(), 'inferlet-model-faults-'));
    manifest = await writeModelVersion(
      join(work, 'repository'),
      {
        name: NAME,
        version: '1',
        task: 'image/text-orientation',
        platform: 'onnxruntime',
        inputs: [{ name: 'x', datatype: 'FP32', dims: [-1, 3, 48, 192] }],
        outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', dims: [-1, 2] }],
        maxBatchSize: 8,
        variants: { fp32: { file: 'model.onnx' } },
        defaultVariant: 'fp32',
        parameters: { labels: 'labels.txt' },
      },
      [
        { path: 'model.onnx', source: CLASSIFIER_ONNX },
        { path: 'labels.txt', content: '0\n180\n' },
      ],
    );
    await publishRepository({ from: join(work, 'repository'), to: `s3://${BUCKET}/`, client });
  });

  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(async () => {
    cacheDir = join(work, `cache-${Math.random().toString(36).slice(2)}`);
    proxy.clearFaults();
  });

  it('fails a load whose weights arrive truncated, keeps nothing of them, and loads on the next try', async () => {
    const store = freshStore();
    proxy.inject({ kind: 'truncate', bytes: Math.floor(weights().bytes / 2) }, 1, getOf('model.onnx'));

    await expect(store.load(NAME, '1')).rejects.toThrow(/downloading .*model\.onnx.* failed/);
    const afterFault = await cacheContents();
    const loaded = await store.load(NAME, '1');

    expect(afterFault.filter((f) => !f.verified)).toEqual([]);
    expect(afterFault.map((f) => f.name)).not.toContain(join('sha256', weights().sha256));
    expect(loaded.session?.inputNames).toEqual(['x']);
    expect(await cacheContents()).toEqual(verifiedCache());
    expect(proxy.count(getOf('model.onnx'))).toBeGreaterThan(0);
  });

  it('retries connection resets within the SDK and gives up after three attempts', async () => {
    const store = freshStore();
    const before = proxy.count(getOf('model.onnx'));
    proxy.inject({ kind: 'reset' }, 3, getOf('model.onnx'));

    await expect(store.load(NAME, '1')).rejects.toThrow(/model repository unavailable/);
    const attempts = proxy.count(getOf('model.onnx')) - before;
    proxy.inject({ kind: 'reset' }, 1, getOf('model.onnx'));
    const loaded = await store.load(NAME, '1');

    expect(attempts).toBe(3);
    expect(proxy.count(getOf('model.onnx')) - before).toBe(5);
    expect(loaded.files.get('model.onnx')).toBe(join(cacheDir, 'sha256', weights().sha256));
    expect(await cacheContents()).toEqual(verifiedCache());
  });

  it('gives up after three 5xx answers per load, and a load after the outage succeeds', async () => {
    const store = freshStore();
    const before = proxy.count(getOf('model.onnx'));
    proxy.inject({ kind: 'status', status: 503 }, 3, getOf('model.onnx'));

    await expect(store.load(NAME, '1')).rejects.toThrow(/model repository unavailable.*model\.onnx/);
    expect(store.state(NAME, '1')).toBe('FAILED');
    const failedAttempts = proxy.count(getOf('model.onnx')) - before;
    proxy.inject({ kind: 'status', status: 500 }, 2, getOf('model.onnx'));
    await store.load(NAME, '1');

    expect(failedAttempts).toBe(3);
    expect(proxy.count(getOf('model.onnx')) - before).toBe(6);
    expect(store.state(NAME, '1')).toBe('READY');
    expect(await cacheContents()).toEqual(verifiedCache());
  });

  it('fails a load whose manifest arrives truncated and reads the manifest again on the next try', async () => {
    const store = freshStore();
    proxy.inject({ kind: 'truncate', bytes: 40 }, 1, getOf('manifest.json'));

    await expect(store.load(NAME, '1')).rejects.toThrow();
    const loaded = await store.load(NAME, '1');

    expect(loaded.manifest.files).toEqual(manifest.files);
    expect(await cacheContents()).toEqual(verifiedCache());
  });

  it('waits out a slow answer and serves the verified file from one request', async () => {
    const store = freshStore();
    const before = proxy.count(getOf('model.onnx'));
    proxy.inject({ kind: 'delay', ms: 400 }, 1, getOf('model.onnx'));

    const loaded = await store.load(NAME, '1');

    expect(loaded.loadMs).toBeGreaterThanOrEqual(400);
    expect(proxy.count(getOf('model.onnx')) - before).toBe(1);
    expect(await cacheContents()).toEqual(verifiedCache());
  });

  it('downloads again over a corrupt cached file and removes what a killed download left behind', async () => {
    const store = freshStore();
    const target = join(cacheDir, 'sha256', weights().sha256);
    await mkdir(join(cacheDir, 'sha256'), { recursive: true });
    // A file of the right size but other bytes, and the temporary file of a process killed mid-download.
    await writeFile(target, Buffer.alloc(weights().bytes, 7));
    await writeFile(`${target}.999999.0a1b2c3d4e5f.part`, Buffer.alloc(1000, 1));
    const before = proxy.count(getOf('model.onnx'));

    const loaded = await store.load(NAME, '1');

    expect(proxy.count(getOf('model.onnx')) - before).toBe(1);
    expect(loaded.session?.outputNames).toEqual(['softmax_0.tmp_0']);
    expect(await cacheContents()).toEqual(verifiedCache());
  });
});
