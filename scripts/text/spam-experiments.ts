/**
 * `tsx scripts/text/spam-experiments.ts [name ...]`: trains the spam recipes below, one change at a time,
 * and prints what each did, on data that is not SpamAssassin's random split:
 *
 * - **groups**: trained on the training split of easy-ham-1, hard-ham-1 and spam-1 only, scored on the
 *   training split of easy-ham-2 and spam-2 (other years, other lists and spam runs);
 * - **modern**: the validation half of `test/data/modern-mail.jsonl`, at 0.5 and at the threshold that
 *   flags at most 2 % of the validation ham (SpamAssassin's validation ham and modern ham together);
 * - **SA val**: SpamAssassin's validation split, trained on its whole training split.
 *
 * The test splits are not read: they are for `npm run eval` on the chosen model only.
 */
import { forwardLogits, softmax } from '../../functions/text/fasttext-model.ts';
import { featurize } from '../../functions/text/featurizer.ts';
import { SPAM_RECIPE, SPAM_TARGET_FALSE_POSITIVE_RATE } from '../models/text.ts';
import { thresholdForFalsePositiveRate } from './calibration.ts';
import type { LabelledText } from './dataset.ts';
import { readModernMail } from './modern-mail.ts';
import { readSpamAssassin, SPAM_LABELS } from './spam-assassin.ts';
import {
  type TextClassifierRecipe,
  type TrainedTextClassifier,
  trainTextClassifier,
} from './train-classifier.ts';

const base: TextClassifierRecipe = {
  featurizer: { ...SPAM_RECIPE.featurizer, version: 1, cleanMail: undefined, charNgrams: [3, 5] },
  training: { dim: 32, epochs: 8, lr: 1, seed: 20261126 },
};
const clean = { ...base.featurizer, version: 2 as const, cleanMail: true };
const words = { ...clean, charNgrams: [0, 0] as [number, number] };
const dropout = { ...base.training, dropout: 0.5 };
/** Each recipe adds one change to the one before it; the last is the default model's ({@link SPAM_RECIPE}). */
const RECIPES: Record<string, TextClassifierRecipe> = {
  'before (spam-fasttext@1 of 2026-11-26)': base,
  '+ mail clean-up': { ...base, featurizer: clean },
  '+ feature dropout 0.5': { featurizer: clean, training: dropout },
  '+ freeze features in > 30 % of messages': {
    featurizer: clean,
    training: { ...dropout, maxDocumentFrequency: 0.3 },
  },
  '+ word unigrams only': { featurizer: words, training: { ...dropout, maxDocumentFrequency: 0.3 } },
  '+ 15 epochs (the default recipe)': SPAM_RECIPE,
  'default, freezing at 20 %, 8 epochs': {
    featurizer: words,
    training: { ...dropout, maxDocumentFrequency: 0.2 },
  },
  'default, ham weighted 3': {
    featurizer: words,
    training: { ...SPAM_RECIPE.training, classWeights: [3, 1] },
  },
  'default, with weight decay 1e-4': {
    featurizer: words,
    training: { ...SPAM_RECIPE.training, weightDecay: 1e-4 },
  },
  'default, without freezing': {
    featurizer: words,
    training: { ...SPAM_RECIPE.training, maxDocumentFrequency: undefined },
  },
};

const spamScores = (model: TrainedTextClassifier, examples: readonly LabelledText[]) =>
  examples.map(
    (e) => softmax(forwardLogits(model.weights, featurize(e.text, model.recipe.featurizer)))[1] as number,
  );

function rates(examples: readonly LabelledText[], scores: readonly number[], threshold: number) {
  let ham = 0;
  let flagged = 0;
  let spam = 0;
  let caught = 0;
  let correct = 0;
  for (const [i, e] of examples.entries()) {
    const isSpam = (scores[i] as number) >= threshold;
    if (e.label === 'spam') {
      spam++;
      if (isSpam) caught++;
    } else {
      ham++;
      if (isSpam) flagged++;
    }
    if (isSpam === (e.label === 'spam')) correct++;
  }
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}`.padStart(5);
  return `acc ${pct(correct, examples.length)} hamFP ${pct(flagged, ham)} spamR ${pct(caught, spam)}`;
}

/** Area under the ROC curve: the chance that a random spam scores above a random ham. */
function auc(examples: readonly LabelledText[], scores: readonly number[]): number {
  const spam = scores.filter((_, i) => examples[i]?.label === 'spam');
  const ham = scores.filter((_, i) => examples[i]?.label !== 'spam');
  let wins = 0;
  for (const s of spam) for (const h of ham) wins += s > h ? 1 : s === h ? 0.5 : 0;
  return wins / Math.max(1, spam.length * ham.length);
}

const wanted = process.argv.slice(2);
const all = await readSpamAssassin();
const group = (m: { key: string }) => m.key.split('/')[0] as string;
const train = all.filter((m) => m.split === 'train');
const validation = all.filter((m) => m.split === 'validation');
const groupTrain = train.filter((m) => ['easy-ham-1', 'hard-ham-1', 'spam-1'].includes(group(m)));
const groupValidation = train.filter((m) => ['easy-ham-2', 'spam-2'].includes(group(m)));
const modern = await readModernMail('validation');

for (const [name, recipe] of Object.entries(RECIPES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  const byGroup = trainTextClassifier(groupTrain, recipe, SPAM_LABELS);
  const groupScores = spamScores(byGroup, groupValidation);
  const full = trainTextClassifier(train, recipe, SPAM_LABELS);
  const valScores = spamScores(full, validation);
  const modernScores = spamScores(full, modern);
  const hamScores = [
    ...valScores.filter((_, i) => validation[i]?.label === 'ham'),
    ...modernScores.filter((_, i) => modern[i]?.label === 'ham'),
  ];
  const threshold = thresholdForFalsePositiveRate(hamScores, SPAM_TARGET_FALSE_POSITIVE_RATE);
  console.log(
    `${name.padEnd(42)} groups ${rates(groupValidation, groupScores, 0.5)} | SA val ${rates(validation, valScores, 0.5)} | ` +
      `modern@0.5 ${rates(modern, modernScores, 0.5)} AUC ${auc(modern, modernScores).toFixed(3)} | t=${threshold.toFixed(4)} SA val ${rates(validation, valScores, threshold)} modern ${rates(modern, modernScores, threshold)} | ${Math.round(full.trainMs / 1000)} s`,
  );
}
