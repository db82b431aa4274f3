import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import type { LoadedModel } from '../../functions/core/model-store/types.ts';
import { createSession } from '../../functions/core/session.ts';
import type { OcrModels } from '../../functions/image/ocr-pipeline.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';

const repository = join(import.meta.dirname, '..', '..', 'models');

/** Which variant of each model to load: a tier's (`manifest.tiers`), or a variant where a model has it. */
export interface OcrModelChoice {
  readonly tier?: string;
  readonly variant?: string;
}

async function loadLocal(name: string, choice: OcrModelChoice): Promise<LoadedModel> {
  const started = performance.now();
  const dir = join(repository, name, OCR_VERSION);
  const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), name);
  const files = new Map(manifest.files.map((f) => [f.path, join(dir, f.path)]));
  const variant =
    (choice.variant && choice.variant in manifest.variants ? choice.variant : undefined) ??
    (choice.tier ? manifest.tiers?.[choice.tier] : undefined) ??
    manifest.defaultVariant;
  const file = manifest.variants[variant]?.file;
  const session = file ? await createSession(join(dir, file)) : undefined;
  return { manifest, variant, files, session, loadMs: performance.now() - started };
}

/**
 * Loads the three OCR models straight from `models/`: a stand-in for the model store in tests. Default:
 * each model's default variant, as the store picks without a tier.
 */
export async function loadOcrModels(choice: OcrModelChoice = {}): Promise<OcrModels> {
  const [detector, classifier, recognizer] = await Promise.all(
    ['ppocr-v4-det', 'ppocr-mobile-v2-cls', 'ppocr-v4-rec'].map((name) => loadLocal(name, choice)),
  );
  if (!detector || !classifier || !recognizer) throw new Error('OCR models missing');
  return { detector, classifier, recognizer };
}
