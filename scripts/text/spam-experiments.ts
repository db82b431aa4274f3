/**
 * `tsx scripts/text/spam-experiments.ts [name ...]`: trains the spam recipes below, one change at a time,
 * and prints what each did, on data that is not SpamAssassin's random split:
 *
 * - **groups**: trained on the training split of easy-ham-1, hard-ham-1 and spam-1 only, scored on the
 *   training split of easy-ham-2 and spam-2 (other years, other lists and spam runs);
 * - **modern**: the validation half of `test/data/modern-mail.jsonl`, at 0.5 and at the threshold that
 *   flags at most 2 % of the validation ham (SpamAssassin's validation ham and modern ham together);
 * - **SA val**: SpamAssassin's validation split, trained on its whole training split;
 * - **modern-train CV**: for recipes that train on the modern corpus, 5-fold cross-validation over it (by
 *   FNV-1a of the text): each fold scored by a model trained on SpamAssassin and the other four folds, at
 *   that model's own threshold. It is the one measure of mail of today's kind that no threshold saw.
 *
 * Without names it runs the recipes with the modern training corpus ({@link DATA_RECIPES}); the earlier
 * recipes on SpamAssassin alone ({@link RECIPES}) run when named. The test splits are not read: they are for
 * `npm run eval` on the chosen model only.
 */
import { forwardLogits, softmax } from '../../functions/text/fasttext-model.ts';
import { featurize, fnv1a32 } from '../../functions/text/featurizer.ts';
import {
  MODERN_TRAIN_REPEATS,
  SPAM_RECIPE,
  SPAM_TARGET_FALSE_POSITIVE_RATE,
  spamTrainingSet,
} from '../models/text.ts';
import { thresholdForFalsePositiveRate } from './calibration.ts';
import type { LabelledText } from './dataset.ts';
import { readModernMail } from './modern-mail.ts';
import { readModernTrain } from './modern-train.ts';
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
/**
 * Recipes trained on SpamAssassin alone (2026-11-27, before the modern corpus): each adds one change to the
 * one before it up to the recipe that {@link SPAM_RECIPE} still is.
 */
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

/** A recipe and how many times the modern training corpus joins SpamAssassin's training split. */
interface DataRecipe {
  readonly recipe: TextClassifierRecipe;
  readonly modernRepeats: number;
}
const unfrozen = { ...SPAM_RECIPE.training, maxDocumentFrequency: undefined };
/** The recipe of {@link SPAM_RECIPE} with more and other training data (2026-11-27, the modern corpus). */
const DATA_RECIPES: Record<string, DataRecipe> = {
  'SpamAssassin only (spam-fasttext@1)': { recipe: SPAM_RECIPE, modernRepeats: 0 },
  '+ modern corpus once': { recipe: SPAM_RECIPE, modernRepeats: 1 },
  [`+ modern corpus ${MODERN_TRAIN_REPEATS}× (the default)`]: {
    recipe: SPAM_RECIPE,
    modernRepeats: MODERN_TRAIN_REPEATS,
  },
  'modern corpus 5×': { recipe: SPAM_RECIPE, modernRepeats: 5 },
  'modern corpus 8×': { recipe: SPAM_RECIPE, modernRepeats: 8 },
  'modern 3×, nothing frozen': { recipe: { ...SPAM_RECIPE, training: unfrozen }, modernRepeats: 3 },
  'modern 3×, ham weighted 2': {
    recipe: { ...SPAM_RECIPE, training: { ...SPAM_RECIPE.training, classWeights: [2, 1] } },
    modernRepeats: 3,
  },
  'modern 3×, ham weighted 2, nothing frozen': {
    recipe: { ...SPAM_RECIPE, training: { ...unfrozen, classWeights: [2, 1] } },
    modernRepeats: 3,
  },
  'modern 3×, word bigrams': {
    recipe: { ...SPAM_RECIPE, featurizer: { ...SPAM_RECIPE.featurizer, wordNgrams: 2 } },
    modernRepeats: 3,
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
const modernTrain = await readModernTrain();
const FOLDS = 5;
const foldOf = (e: LabelledText) => fnv1a32(e.text) % FOLDS;

/** A model's threshold: at most the target share of SpamAssassin's and modern-mail's validation ham. */
function thresholdOf(model: TrainedTextClassifier, valScores = spamScores(model, validation)) {
  const modernScores = spamScores(model, modern);
  const hamScores = [
    ...valScores.filter((_, i) => validation[i]?.label === 'ham'),
    ...modernScores.filter((_, i) => modern[i]?.label === 'ham'),
  ];
  return {
    threshold: thresholdForFalsePositiveRate(hamScores, SPAM_TARGET_FALSE_POSITIVE_RATE),
    modernScores,
  };
}

/** Each modern training message scored by the model of the folds it was not in, at that model's threshold. */
function crossValidated(recipe: TextClassifierRecipe, repeats: number): string {
  const labels: boolean[] = [];
  const examples: LabelledText[] = [];
  for (let fold = 0; fold < FOLDS; fold++) {
    const held = modernTrain.filter((e) => foldOf(e) === fold);
    const rest = modernTrain.filter((e) => foldOf(e) !== fold);
    const model = trainTextClassifier(spamTrainingSet(train, rest, repeats), recipe, SPAM_LABELS);
    const { threshold } = thresholdOf(model);
    for (const [i, score] of spamScores(model, held).entries()) {
      labels.push(score >= threshold);
      examples.push(held[i] as LabelledText);
    }
  }
  return rates(
    examples,
    labels.map((l) => (l ? 1 : 0)),
    0.5,
  );
}

for (const [name, recipe] of Object.entries(RECIPES)) {
  if (!wanted.includes(name)) continue;
  const byGroup = trainTextClassifier(groupTrain, recipe, SPAM_LABELS);
  const groupScores = spamScores(byGroup, groupValidation);
  const full = trainTextClassifier(train, recipe, SPAM_LABELS);
  const valScores = spamScores(full, validation);
  const { threshold, modernScores } = thresholdOf(full, valScores);
  console.log(
    `${name.padEnd(42)} groups ${rates(groupValidation, groupScores, 0.5)} | SA val ${rates(validation, valScores, 0.5)} | ` +
      `modern@0.5 ${rates(modern, modernScores, 0.5)} AUC ${auc(modern, modernScores).toFixed(3)} | t=${threshold.toFixed(4)} SA val ${rates(validation, valScores, threshold)} modern ${rates(modern, modernScores, threshold)} | ${Math.round(full.trainMs / 1000)} s`,
  );
}

for (const [name, { recipe, modernRepeats }] of Object.entries(DATA_RECIPES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  const byGroup = trainTextClassifier(
    spamTrainingSet(groupTrain, modernTrain, modernRepeats),
    recipe,
    SPAM_LABELS,
  );
  const groupScores = spamScores(byGroup, groupValidation);
  const full = trainTextClassifier(spamTrainingSet(train, modernTrain, modernRepeats), recipe, SPAM_LABELS);
  const valScores = spamScores(full, validation);
  const { threshold, modernScores } = thresholdOf(full, valScores);
  const cv =
    modernRepeats > 0
      ? crossValidated(recipe, modernRepeats)
      : rates(modernTrain, spamScores(full, modernTrain), threshold);
  console.log(
    `${name.padEnd(42)} groups ${rates(groupValidation, groupScores, 0.5)} | SA val ${rates(validation, valScores, 0.5)} | ` +
      `modern@0.5 ${rates(modern, modernScores, 0.5)} AUC ${auc(modern, modernScores).toFixed(3)} | t=${threshold.toFixed(4)} SA val ${rates(validation, valScores, threshold)} modern ${rates(modern, modernScores, threshold)} | ` +
      `modern-train CV ${cv} | ${Math.round(full.trainMs / 1000)} s`,
  );
}
