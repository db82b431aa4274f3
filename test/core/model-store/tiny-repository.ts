import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from '../../../functions/core/model-store/manifest.ts';
import { writeModelVersion } from '../../../functions/core/model-store/write-model.ts';

/** The smallest real model of the default repository (579 KB): input `x` [N,3,48,192] -> [N,2]. */
export const CLASSIFIER_ONNX = 'models/ppocr-mobile-v2-cls/3/model.onnx';

/**
 * The classifier with a protobuf field appended that onnxruntime skips: a valid model whose bytes, and so
 * sha256, differ from {@link CLASSIFIER_ONNX}, standing in for a second variant of the weights.
 */
export async function otherVariantOf(source: string, tag: string): Promise<Buffer> {
  const base = await readFile(source);
  const text = Buffer.from(tag, 'utf8');
  // Field 100, wire type 2 (length-delimited): tag bytes 0xa2 0x06, then a one-byte length.
  return Buffer.concat([base, Buffer.from([0xa2, 0x06, text.length]), text]);
}

/** The manifests of a {@link writeTinyRepository}, by `<name>/<version>`. */
export type TinyRepository = Record<string, ModelManifest>;

/**
 * Writes a small repository:
 * - `tiny-cls` versions `1`, `2` and `10`; version 1 has two variants (`fp32` default, `int8` for the lambda
 *   tier) and a label file every variant needs;
 * - `tiny-ocr/1`, an ensemble of `tiny-cls/1`.
 */
export async function writeTinyRepository(dir: string): Promise<TinyRepository> {
  await mkdir(dir, { recursive: true });
  const int8 = join(dir, '.int8.onnx');
  await writeFile(int8, await otherVariantOf(CLASSIFIER_ONNX, 'int8'));
  const base = {
    name: 'tiny-cls',
    task: 'image/text-orientation',
    platform: 'onnxruntime' as const,
    inputs: [{ name: 'x', datatype: 'FP32' as const, dims: [-1, 3, 48, 192] }],
    outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32' as const, dims: [-1, 2] }],
    maxBatchSize: 8,
    variants: { fp32: { file: 'model.onnx' } },
    defaultVariant: 'fp32',
  };
  const repository: TinyRepository = {};
  repository['tiny-cls/1'] = await writeModelVersion(
    dir,
    {
      ...base,
      version: '1',
      variants: { fp32: { file: 'model.onnx' }, int8: { file: 'model-int8.onnx' } },
      tiers: { lambda: 'int8', gpu: 'fp32' },
      parameters: { labels: 'labels.txt' },
    },
    [
      { path: 'model.onnx', source: CLASSIFIER_ONNX },
      { path: 'model-int8.onnx', source: int8 },
      { path: 'labels.txt', content: '0\n180\n' },
    ],
  );
  for (const version of ['2', '10']) {
    repository[`tiny-cls/${version}`] = await writeModelVersion(dir, { ...base, version }, [
      { path: 'model.onnx', source: CLASSIFIER_ONNX },
    ]);
  }
  await rm(int8);
  repository['tiny-ocr/1'] = await writeModelVersion(
    dir,
    {
      name: 'tiny-ocr',
      version: '1',
      task: 'image/ocr',
      platform: 'ensemble',
      inputs: [{ name: 'image', datatype: 'BYTES', dims: [1] }],
      outputs: [{ name: 'text', datatype: 'BYTES', dims: [-1] }],
      maxBatchSize: 0,
      variants: { fp32: {} },
      defaultVariant: 'fp32',
      composing: [{ role: 'classifier', name: 'tiny-cls', version: '1' }],
    },
    [],
  );
  return repository;
}

/** The manifest entry of one file. */
export function fileOf(manifest: ModelManifest | undefined, path: string): { bytes: number; sha256: string } {
  const file = manifest?.files.find((f) => f.path === path);
  if (!file) throw new Error(`no file ${path} in the manifest`);
  return file;
}
