import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelVersionConflictError, publishRepository } from '../../../functions/core/model-store/publish.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../../support/s3rver.ts';
import { fileOf, type TinyRepository, writeTinyRepository } from './tiny-repository.ts';

const BUCKET = 'models';
const execFileAsync = promisify(execFile);

/** Replaces a file of a local version and its manifest entry, as a rebuild with other bytes would. */
async function rebuildFile(
  repository: string,
  version: string,
  file: string,
  content: string,
): Promise<void> {
  await writeFile(join(repository, version, file), content);
  const manifestPath = join(repository, version, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
    files: { path: string; bytes: number; sha256: string }[];
  };
  const entry = manifest.files.find((f) => f.path === file);
  if (!entry) throw new Error(`${version} has no ${file}`);
  entry.bytes = Buffer.byteLength(content);
  entry.sha256 = createHash('sha256').update(content).digest('hex');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
}

let s3: S3rverHandle;
let work: string;
let local: string;
let tiny: TinyRepository;
let client: S3Client;
const puts: string[] = [];

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET], setEnv: true });
  s3.events.on('event', (record) => {
    if (record.eventName === 'ObjectCreated:Put') puts.push(record.s3.object.key);
  });
  work = await mkdtemp(join(tmpdir(), 'publish-models-'));
  local = join(work, 'repository');
  tiny = await writeTinyRepository(local);
  client = new S3Client({ region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS });
});

afterAll(async () => {
  await s3?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Waits until s3rver has reported `count` puts under `prefix` (its events arrive asynchronously). */
async function putsUnder(prefix: string, count: number): Promise<string[]> {
  await expect.poll(() => puts.filter((k) => k.startsWith(prefix)).length).toBe(count);
  return puts.filter((k) => k.startsWith(prefix));
}

describe('publishRepository', () => {
  it('uploads every file, byte for byte and with its sha256, before any manifest', async () => {
    const lines: string[] = [];

    const report = await publishRepository({
      from: local,
      to: `s3://${BUCKET}/first`,
      client,
      log: (l) => lines.push(l),
    });

    expect(report.skipped).toEqual([]);
    expect(report.uploaded).toHaveLength(9);
    const keys = await putsUnder('first/', 9);
    const firstManifest = keys.findIndex((k) => k.endsWith('manifest.json'));
    expect(firstManifest).toBe(5);
    expect(keys.slice(firstManifest).every((k) => k.endsWith('manifest.json'))).toBe(true);
    const model = fileOf(tiny['tiny-cls/1'], 'model-int8.onnx');
    const head = await client.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: 'first/tiny-cls/1/model-int8.onnx' }),
    );
    expect(head.ContentLength).toBe(model.bytes);
    expect(head.Metadata?.sha256).toBe(model.sha256);
    const object = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'first/tiny-cls/1/model-int8.onnx' }),
    );
    const body = await object.Body?.transformToByteArray();
    expect(
      createHash('sha256')
        .update(body ?? new Uint8Array())
        .digest('hex'),
    ).toBe(model.sha256);
    expect(lines.at(-1)).toBe('published 4 model versions: 9 uploaded, 0 skipped');
  });

  it('skips objects that exist with the same bytes, hashing those that carry no sha256 (a cdk deploy’s copy)', async () => {
    const to = `s3://${BUCKET}/again`;
    await publishRepository({ from: local, to, client });
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'again/tiny-cls/1/labels.txt', Body: '0\n180\n' }),
    );

    const report = await publishRepository({ from: local, to, client });

    expect(report.uploaded).toEqual([]);
    expect(report.skipped).toHaveLength(9);
  });

  it('refuses to overwrite a published version whose bytes changed, uploading nothing and asking for a new version', async () => {
    const to = `s3://${BUCKET}/immutable`;
    await publishRepository({ from: local, to, client });
    const published = (await putsUnder('immutable/', 9)).length;
    const rebuilt = join(work, 'rebuilt');
    await writeTinyRepository(rebuilt);
    await rebuildFile(rebuilt, 'tiny-cls/1', 'labels.txt', '0\n90\n180\n');

    const publishing = publishRepository({ from: rebuilt, to, client });

    await expect(publishing).rejects.toThrow(ModelVersionConflictError);
    await expect(publishRepository({ from: rebuilt, to, client })).rejects.toThrow(
      /refusing to overwrite published model versions tiny-cls\/1: [\s\S]*immutable\/tiny-cls\/1\/labels\.txt [\s\S]*immutable\/tiny-cls\/1\/manifest\.json [\s\S]*as a new version/,
    );
    await new Promise((done) => setTimeout(done, 200));
    expect(puts.filter((k) => k.startsWith('immutable/'))).toHaveLength(published);
    const labels = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'immutable/tiny-cls/1/labels.txt' }),
    );
    expect(await labels.Body?.transformToString()).toBe('0\n180\n');
  });

  it('replaces changed files when told to overwrite, as a scratch bucket may', async () => {
    const to = `s3://${BUCKET}/scratch`;
    await publishRepository({ from: local, to, client });
    const rebuilt = join(work, 'rebuilt-scratch');
    await writeTinyRepository(rebuilt);
    await rebuildFile(rebuilt, 'tiny-cls/1', 'labels.txt', 'a\nb\n');

    const report = await publishRepository({ from: rebuilt, to, client, overwrite: true });

    expect(report.uploaded).toEqual([`${to}/tiny-cls/1/labels.txt`, `${to}/tiny-cls/1/manifest.json`]);
    const labels = await client.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'scratch/tiny-cls/1/labels.txt' }),
    );
    expect(await labels.Body?.transformToString()).toBe('a\nb\n');
  });

  it('refuses to publish a repository whose file does not match its manifest, uploading nothing', async () => {
    const broken = join(work, 'broken');
    await writeTinyRepository(broken);
    await writeFile(join(broken, 'tiny-cls', '2', 'model.onnx'), 'not a model');

    const publishing = publishRepository({ from: broken, to: `s3://${BUCKET}/broken`, client });

    await expect(publishing).rejects.toThrow(/refusing to publish .*tiny-cls\/2\/model.onnx/);
    await new Promise((done) => setTimeout(done, 200));
    expect(puts.filter((k) => k.startsWith('broken/'))).toEqual([]);
  });

  it('exits 1 from the command when a published version changed, saying which', async () => {
    const rebuilt = join(work, 'rebuilt-cli');
    await writeTinyRepository(rebuilt);
    await rebuildFile(rebuilt, 'tiny-cls/2', 'model.onnx', 'other bytes');
    await publishRepository({ from: local, to: `s3://${BUCKET}/cli-conflict`, client });

    const run = execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'scripts/publish-models.ts', rebuilt, `s3://${BUCKET}/cli-conflict`],
      { env: { ...process.env, NODE_NO_WARNINGS: '1' } },
    );

    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('refusing to overwrite published model versions tiny-cls/2'),
    });
  });

  it('runs as a command that reads AWS_ENDPOINT_URL_S3 and prints what it did', async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'scripts/publish-models.ts', local, `s3://${BUCKET}/cli/`],
      { env: { ...process.env, NODE_NO_WARNINGS: '1' } },
    );

    expect(stdout).toContain(`upload  s3://${BUCKET}/cli/tiny-cls/1/model.onnx (`);
    expect(stdout.trim().split('\n').at(-1)).toBe('published 4 model versions: 9 uploaded, 0 skipped');
    expect(await putsUnder('cli/', 9)).toHaveLength(9);
  });
});
