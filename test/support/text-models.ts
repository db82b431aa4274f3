import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from '../../functions/core/model-store/manifest.ts';
import { DEFAULT_FEATURIZER } from '../../functions/text/featurizer.ts';
import { type LabelledText, readLabelledFile } from '../../scripts/text/dataset.ts';
import { readSpamAssassin } from '../../scripts/text/spam-assassin.ts';
import {
  type TextClassifierRecipe,
  type TrainedTextClassifier,
  trainTextClassifier,
  writeTextClassifier,
} from '../../scripts/text/train-classifier.ts';

/** A small recipe that trains in well under a second on a few hundred messages. */
export const SMALL_RECIPE: TextClassifierRecipe = {
  featurizer: { ...DEFAULT_FEATURIZER, buckets: 1 << 14, wordNgrams: 2, charNgrams: [3, 4], maxTokens: 200 },
  training: { dim: 16, epochs: 30, lr: 1, seed: 7 },
};

/** Writes labelled texts as JSONL, the format `npm run train:text` reads. */
export async function writeJsonl(path: string, examples: readonly LabelledText[]): Promise<string> {
  await writeFile(path, examples.map((e) => JSON.stringify({ text: e.text, label: e.label })).join('\n'));
  return path;
}

/** A small real-shaped sample of SpamAssassin: the first messages of each group, by the corpus split. */
export async function spamSample(perGroup = 80): Promise<{ train: LabelledText[]; test: LabelledText[] }> {
  const messages = await readSpamAssassin(perGroup);
  const plain = (m: LabelledText) => ({ text: m.text, label: m.label });
  return {
    train: messages.filter((m) => m.split !== 'test').map(plain),
    test: messages.filter((m) => m.split === 'test').map(plain),
  };
}

/** A small spam model in a repository, trained from a JSONL file the helper writes, with its held-out data. */
export interface SpamTestModel {
  readonly manifest: ModelManifest;
  readonly model: TrainedTextClassifier;
  readonly test: LabelledText[];
}

/**
 * Writes `<dir>/train.jsonl` from a SpamAssassin sample, trains {@link SMALL_RECIPE} on it and exports
 * `spam-small@1` (fp32 and int8) into `<dir>/repository`.
 */
export async function writeSpamTestModel(dir: string): Promise<SpamTestModel> {
  const { train, test } = await spamSample();
  const file = await writeJsonl(join(dir, 'train.jsonl'), train);
  const model = trainTextClassifier(await readLabelledFile(file), SMALL_RECIPE);
  const manifest = await writeTextClassifier(model, {
    repository: join(dir, 'repository'),
    name: 'spam-small',
    version: '1',
  });
  return { manifest, model, test };
}
