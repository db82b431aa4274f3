import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChecksumMismatchError } from '../../functions/core/errors.ts';
import { InferenceService } from '../../functions/core/inference-service.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { imageOcrTask } from '../../functions/image/task.ts';
import { renderText, stackLines } from '../support/render-text.ts';

const served = [{ definition: imageOcrTask, model: { name: 'ppocr-v4' } }];

describe('InferenceService', () => {
  let work: string;
  let page: Uint8Array;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-service-'));
    page = await renderText({
      width: 480,
      height: 100,
      lines: stackLines([{ text: 'order 5521', fontSize: 36 }]),
    });
  });

  afterAll(() => rm(work, { recursive: true, force: true }));
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('loads a task once for concurrent first requests and emits one EMF record per inference, cold start first', async () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const store = createModelStore({ repository: 'models', cacheDir: join(work, 'cache-a') });
    const load = vi.spyOn(imageOcrTask, 'load');
    const service = new InferenceService({ store, tasks: served });

    const results = await Promise.all(
      [1, 2, 3].map(() => service.infer('image/ocr', { mediaType: 'image/png', bytes: page })),
    );

    expect(load).toHaveBeenCalledTimes(1);
    expect(results.map((r) => r.text)).toEqual(['order 5521', 'order 5521', 'order 5521']);
    const records = lines.map((l) => JSON.parse(l));
    expect(records).toHaveLength(3);
    expect(records.map((r) => r.ColdStart)).toEqual([1, 0, 0]);
    expect(records[0].ModelLoadTime).toBeGreaterThan(0);
    for (const r of records) {
      expect(r).toMatchObject({
        task: 'image/ocr',
        model: 'ppocr-v4@3',
        variant: 'fp32',
        Inferences: 1,
        PayloadSize: page.byteLength,
      });
      expect(r.CpuTime).toBeGreaterThan(0);
    }
  });

  it('refuses to serve a model whose file fails its checksum, answers 503, and never becomes ready', async () => {
    const repository = join(work, 'tampered');
    await cp('models', repository, { recursive: true, dereference: true });
    await writeFile(join(repository, 'ppocr-mobile-v2-cls/3/model.onnx'), 'not the model');
    const service = new InferenceService({
      store: createModelStore({ repository, cacheDir: join(work, 'cache-b') }),
      tasks: served,
    });

    const failure = service.infer('image/ocr', { mediaType: 'image/png', bytes: page });

    await expect(failure).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(failure).rejects.toMatchObject({ status: 503 });
    await service.warm();
    expect(service.isReady()).toBe(false);
    expect((await service.store.index()).find((m) => m.name === 'ppocr-mobile-v2-cls')).toMatchObject({
      state: 'FAILED',
    });
  });
});
