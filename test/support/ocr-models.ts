import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import type { LoadedModel } from '../../functions/core/model-store/types.ts';
import { createSession } from '../../functions/core/session.ts';
import type { OcrModels } from '../../functions/image/ocr-pipeline.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';

const repository = join(import.meta.dirname, '..', '..', 'models');

async function loadLocal(name: string): Promise<LoadedModel> {
  const started = performance.now();
  const dir = join(repository, name, OCR_VERSION);
  const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), name);
  const files = new Map(manifest.files.map((f) => [f.path, join(dir, f.path)]));
  const variant = manifest.defaultVariant;
  const file = manifest.variants[variant]?.file;
  const session = file ? await createSession(join(dir, file)) : undefined;
  return { manifest, variant, files, session, loadMs: performance.now() - started };
}

/** Loads the three OCR models straight from `models/`: a stand-in for the model store in tests. */
export async function loadOcrModels(): Promise<OcrModels> {
  const [detector, classifier, recognizer] = await Promise.all(
    ['ppocr-v4-det', 'ppocr-mobile-v2-cls', 'ppocr-v4-rec'].map(loadLocal),
  );
  if (!detector || !classifier || !recognizer) throw new Error('OCR models missing');
  return { detector, classifier, recognizer };
}
