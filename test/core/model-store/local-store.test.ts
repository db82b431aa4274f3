import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChecksumMismatchError,
  InvalidInputError,
  ModelNotFoundError,
} from '../../../functions/core/errors.ts';
import { DiskCache } from '../../../functions/core/model-store/disk-cache.ts';
import { LocalRepository, type ModelRepository } from '../../../functions/core/model-store/repository.ts';
import { createModelStore, RepositoryModelStore } from '../../../functions/core/model-store/store.ts';
import { fileOf, type TinyRepository, writeTinyRepository } from './tiny-repository.ts';

let work: string;
let shared: string;
let tiny: TinyRepository;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'model-store-local-'));
  shared = join(work, 'shared');
  tiny = await writeTinyRepository(shared);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A repository of its own for a test that changes files. */
async function privateRepository(name: string): Promise<string> {
  const dir = join(work, name);
  await cp(shared, dir, { recursive: true });
  return dir;
}

function storeOver(repository: string, options: { tier?: string } = {}) {
  return createModelStore({ repository, cacheDir: join(work, 'cache'), ...options }, {});
}

describe('model store over a local folder', () => {
  it('verifies the files in place and creates a session', async () => {
    const store = storeOver(shared);

    const model = await store.load('tiny-cls', '1');

    expect(model.variant).toBe('fp32');
    expect(model.session?.inputNames).toEqual(['x']);
    expect(model.session?.outputNames).toEqual(['softmax_0.tmp_0']);
    expect([...model.files.entries()]).toEqual([
      ['model.onnx', join(shared, 'tiny-cls', '1', 'model.onnx')],
      ['labels.txt', join(shared, 'tiny-cls', '1', 'labels.txt')],
    ]);
    expect(model.loadMs).toBeGreaterThan(0);
    expect(store.state('tiny-cls', '1')).toBe('READY');
    expect(store.peek('tiny-cls', '1')).toBe(model);
    await expect(readdir(join(work, 'cache'))).rejects.toThrow(/ENOENT/);
  });

  it('loads the PP-OCR recogniser of the default repository with its dictionary', async () => {
    const store = createModelStore({ cacheDir: join(work, 'cache') }, {});

    const model = await store.load('ppocr-v4-rec');

    expect(store.location).toBe(resolve('models'));
    expect(model.manifest.version).toBe('3');
    // The CPU's default variant of the recogniser is its int8 file (scripts/quantize/ocr-variants.json).
    expect(model.variant).toBe('int8');
    expect([...model.files.keys()]).toEqual(['model-int8-qdq.onnx', 'ppocr_keys_v1.txt']);
    expect(model.session?.inputNames).toEqual(['x']);
  });

  it('loads only the manifest of an ensemble, not its composing models', async () => {
    const store = storeOver(shared);

    const ensemble = await store.load('tiny-ocr');

    expect(ensemble.session).toBeUndefined();
    expect(ensemble.files.size).toBe(0);
    expect(ensemble.manifest.composing).toEqual([{ role: 'classifier', name: 'tiny-cls', version: '1' }]);
    expect(store.state('tiny-ocr', '1')).toBe('READY');
    expect(store.state('tiny-cls', '1')).toBe('UNAVAILABLE');
  });

  it('defaults to the highest numeric version', async () => {
    const store = storeOver(shared);

    const manifest = await store.manifest('tiny-cls');
    const model = await store.load('tiny-cls');

    expect(manifest.version).toBe('10');
    expect(model.manifest.version).toBe('10');
    expect(store.state('tiny-cls', '10')).toBe('READY');
  });

  it('answers ModelNotFoundError naming the models or versions that exist', async () => {
    const store = storeOver(shared);

    const unknownModel = await store.load('no-such-model').catch((error: unknown) => error);
    const unknownVersion = await store.manifest('tiny-cls', '7').catch((error: unknown) => error);
    const escaping = await store.load('..', '1').catch((error: unknown) => error);

    expect(unknownModel).toBeInstanceOf(ModelNotFoundError);
    expect((unknownModel as Error).message).toMatch(
      /"no-such-model" not found .*available models: tiny-cls, tiny-ocr$/,
    );
    expect(unknownVersion).toBeInstanceOf(ModelNotFoundError);
    expect((unknownVersion as Error).message).toBe(
      'model "tiny-cls" has no version "7"; available versions: 1, 2, 10',
    );
    expect(escaping).toBeInstanceOf(ModelNotFoundError);
  });

  it('loads the variant of the configured tier and only the files it needs', async () => {
    const store = storeOver(shared, { tier: 'lambda' });

    const model = await store.load('tiny-cls', '1');

    expect(model.variant).toBe('int8');
    expect([...model.files.keys()]).toEqual(['model-int8.onnx', 'labels.txt']);
    expect(model.session?.inputNames).toEqual(['x']);
  });

  it('reads the tier from MODEL_TIER', async () => {
    const store = createModelStore(
      { repository: shared, cacheDir: join(work, 'cache') },
      { MODEL_TIER: 'gpu' },
    );

    const model = await store.load('tiny-cls', '1');

    expect(model.variant).toBe('fp32');
  });

  it('rejects an unknown variant with InvalidInputError listing the valid ones', async () => {
    const store = storeOver(shared);

    const failure = await store.load('tiny-cls', '1', 'fp16').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(InvalidInputError);
    expect((failure as Error).message).toBe(
      'model "tiny-cls" version "1" has no variant "fp16"; valid variants: fp32, int8',
    );
  });

  it('refuses a tampered file, never serves the model, and verifies again on the next load', async () => {
    const repository = await privateRepository('tampered');
    const store = storeOver(repository);
    const labels = join(repository, 'tiny-cls', '1', 'labels.txt');
    const expected = fileOf(tiny['tiny-cls/1'], 'labels.txt').sha256;
    await writeFile(labels, '0\n90\n');

    const failure = await store.load('tiny-cls', '1').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ChecksumMismatchError);
    const message = (failure as Error).message;
    expect(message).toContain('model "tiny-cls" version "1" file "labels.txt"');
    expect(message).toMatch(new RegExp(`expected sha256 ${expected} .*got [0-9a-f]{64}`));
    expect(store.state('tiny-cls', '1')).toBe('FAILED');
    expect(store.peek('tiny-cls', '1')).toBeUndefined();
    const index = await store.index();
    expect(index.find((e) => e.name === 'tiny-cls' && e.version === '1')).toEqual({
      name: 'tiny-cls',
      version: '1',
      state: 'FAILED',
      reason: message,
    });
    await expect(store.load('tiny-cls', '1')).rejects.toThrow(ChecksumMismatchError);

    await writeFile(labels, '0\n180\n');
    const model = await store.load('tiny-cls', '1');
    expect(model.session).toBeDefined();
    expect(store.state('tiny-cls', '1')).toBe('READY');
  });

  it('refuses a manifest whose name does not match its folder', async () => {
    const repository = await privateRepository('misplaced');
    await cp(join(repository, 'tiny-cls', '2'), join(repository, 'moved', '2'), { recursive: true });
    const store = storeOver(repository);

    const loading = store.load('moved', '2');

    await expect(loading).rejects.toThrow(
      /declares model "tiny-cls" version "2", but lies in the folder of model "moved"/,
    );
    expect(store.state('moved', '2')).toBe('FAILED');
  });

  it('shares one load and one session among concurrent callers', async () => {
    const store = storeOver(shared);

    const models = await Promise.all(Array.from({ length: 8 }, () => store.load('tiny-cls', '2')));

    expect(new Set(models).size).toBe(1);
    expect(new Set(models.map((m) => m.session)).size).toBe(1);
  });

  it('lists every model version with its state in this process', async () => {
    const store = storeOver(shared);
    await store.load('tiny-cls', '2');

    const index = await store.index();

    expect(index).toEqual([
      { name: 'tiny-cls', version: '1', state: 'UNAVAILABLE' },
      { name: 'tiny-cls', version: '2', state: 'READY' },
      { name: 'tiny-cls', version: '10', state: 'UNAVAILABLE' },
      { name: 'tiny-ocr', version: '1', state: 'UNAVAILABLE' },
    ]);
  });

  it('reports LOADING while a file is being fetched', async () => {
    const gate = new PassThrough();
    const local = new LocalRepository(shared);
    // The same repository, seen as remote, whose file stream the test releases.
    const remote: ModelRepository = {
      location: 'gated',
      listVersions: (name) => local.listVersions(name),
      readManifest: (name, version) => local.readManifest(name, version),
      localPath: () => undefined,
      openFile: async (): Promise<Readable> => gate,
    };
    const store = new RepositoryModelStore(remote, new DiskCache(join(work, 'gated-cache')));

    const loading = store.load('tiny-ocr', '1').then(() => store.load('tiny-cls', '2'));
    await expect.poll(() => store.state('tiny-cls', '2')).toBe('LOADING');
    const index = await store.index();
    gate.end(await readFile(join(shared, 'tiny-cls', '2', 'model.onnx')));
    await loading;

    expect(index.find((e) => e.name === 'tiny-cls' && e.version === '2')?.state).toBe('LOADING');
    expect(store.state('tiny-cls', '2')).toBe('READY');
  });
});
