/**
 * The floor for a cold start: read the model files from local disk, create the three sessions and run one
 * OCR, with nothing else (no S3, no manifest, no checksum, no cache). Prints one JSON line.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import type { LoadedModel } from '../../functions/core/model-store/types.ts';
import { OcrPipeline } from '../../functions/image/ocr-pipeline.ts';

const [imagePath, repository] = process.argv.slice(2) as [string, string];
const options: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  interOpNumThreads: 1,
};

/** The highest version of a model in the repository, as the store picks it. */
async function latest(name: string): Promise<string> {
  const versions = (await readdir(join(repository, name))).filter((v) => /^\d+$/.test(v));
  return versions.sort((a, b) => Number(b) - Number(a))[0] ?? '1';
}

async function load(name: string): Promise<LoadedModel> {
  const dir = join(repository, name, await latest(name));
  const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), name);
  const session = await ort.InferenceSession.create(await readFile(join(dir, 'model.onnx')), options);
  return {
    manifest,
    variant: 'fp32',
    session,
    loadMs: 0,
    files: new Map(manifest.files.map((f) => [f.path, join(dir, f.path)])),
  };
}

const [image, detector, classifier, recognizer] = await Promise.all([
  readFile(imagePath),
  load('ppocr-v4-det'),
  load('ppocr-mobile-v2-cls'),
  load('ppocr-v4-rec'),
]);
const pipeline = await OcrPipeline.create({ detector, classifier, recognizer });
const result = await pipeline.run(image);
process.stdout.write(
  `${JSON.stringify({ lines: result.lines.length, uptimeMs: process.uptime() * 1000 })}\n`,
);
