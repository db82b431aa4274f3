import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { OcrPipeline } from '../../functions/image/ocr-pipeline.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';
import { RECEIPT_LINES, renderReceipt } from '../support/render-text.ts';

const repository = join(import.meta.dirname, '..', '..', 'models');

async function manifestOf(name: string) {
  const text = await readFile(join(repository, name, OCR_VERSION, 'manifest.json'), 'utf8');
  return parseManifest(JSON.parse(text), name);
}

describe('the Lambda tier of the OCR models', () => {
  const work = mkdtemp(join(tmpdir(), 'inferlet-lambda-variants-'));
  afterAll(async () => rm(await work, { recursive: true, force: true }));

  it.each(['ppocr-v4-det', 'ppocr-v4-rec'])(
    'serves %s as a reduced-precision file at most 0.6x the size of fp32',
    async (name) => {
      const manifest = await manifestOf(name);

      const lambda = manifest.tiers?.lambda ?? '';
      const bytes = (variant: string) =>
        manifest.files.find((f) => f.path === manifest.variants[variant]?.file)?.bytes ?? Number.NaN;

      expect(lambda).not.toBe('fp32');
      // The GPU tier stays float: fp32, or its rewrite for WebGPU (test/gpu/gpu-variants.test.ts).
      expect(['fp32', 'gpu']).toContain(manifest.tiers?.gpu);
      expect(bytes(lambda) / bytes('fp32')).toBeLessThanOrEqual(0.6);
    },
  );

  it('reads a small receipt with the Lambda variants as fp32 does', async () => {
    const texts = RECEIPT_LINES;
    const png = await renderReceipt();
    const store = createModelStore({ repository, cacheDir: join(await work, 'cache'), tier: 'lambda' });
    const [detector, classifier, recognizer] = await Promise.all(
      ['ppocr-v4-det', 'ppocr-mobile-v2-cls', 'ppocr-v4-rec'].map((name) => store.load(name)),
    );
    const ocr = await OcrPipeline.create(
      { detector, classifier, recognizer } as Parameters<typeof OcrPipeline.create>[0],
      { offThreadInference: false },
    );

    const result = await ocr.run(png);

    expect(detector?.variant).not.toBe('fp32');
    expect(recognizer?.variant).not.toBe('fp32');
    expect(result.lines.map((l) => l.text)).toEqual(texts);
  });
});
