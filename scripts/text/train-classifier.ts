/**
 * From labelled texts to a served model version: featurise, train, optionally search hyper-parameters on a
 * validation split, and write the fp32 and int8 ONNX variants with their featuriser settings and manifest.
 */
import type { DecisionThreshold, ModelManifest } from '../../functions/core/model-store/manifest.ts';
import { writeModelVersion } from '../../functions/core/model-store/write-model.ts';
import {
  type FastTextWeights,
  forwardLogits,
  quantizeWeights,
  softmax,
} from '../../functions/text/fasttext-model.ts';
import { buildFastTextOnnx, FASTTEXT_IO } from '../../functions/text/fasttext-onnx.ts';
import { type FeaturizerSettings, featurize } from '../../functions/text/featurizer.ts';
import { type ClassificationReport, classificationReport } from './classification-report.ts';
import { type LabelledText, labelsOf } from './dataset.ts';
import { type EncodedExample, seededRandom, type TrainingOptions, trainFastText } from './trainer.ts';

/** Everything that decides the weights: featuriser settings and training hyper-parameters. */
export interface TextClassifierRecipe {
  readonly featurizer: FeaturizerSettings;
  readonly training: TrainingOptions;
}

/** A trained classifier, in memory. */
export interface TrainedTextClassifier {
  readonly labels: readonly string[];
  readonly recipe: TextClassifierRecipe;
  readonly weights: FastTextWeights;
  /** Wall-clock time of featurisation and training, in ms. */
  readonly trainMs: number;
}

function encode(
  examples: readonly LabelledText[],
  labels: readonly string[],
  featurizer: FeaturizerSettings,
): EncodedExample[] {
  const index = new Map(labels.map((l, i) => [l, i]));
  return examples.map((e) => {
    const label = index.get(e.label);
    if (label === undefined) throw new Error(`label "${e.label}" is not one of ${labels.join(', ')}`);
    return { ids: featurize(e.text, featurizer), label };
  });
}

/**
 * Trains a classifier on `train`. Labels default to the sorted distinct labels of `train`.
 *
 * @example
 * ```ts
 * const model = trainTextClassifier(examples, { featurizer: DEFAULT_FEATURIZER, training: DEFAULT_TRAINING });
 * ```
 */
export function trainTextClassifier(
  train: readonly LabelledText[],
  recipe: TextClassifierRecipe,
  labels: readonly string[] = labelsOf(train),
): TrainedTextClassifier {
  if (labels.length < 2)
    throw new Error(`a classifier needs at least two labels; got ${labels.join(', ') || 'none'}`);
  const started = performance.now();
  const encoded = encode(train, labels, recipe.featurizer);
  const weights = trainFastText(
    encoded,
    { buckets: recipe.featurizer.buckets, classes: labels.length },
    recipe.training,
  );
  return { labels, recipe, weights, trainMs: performance.now() - started };
}

/** The probabilities of every label for each text by the plain TypeScript forward pass, in `labels` order. */
export function probabilitiesInMemory(
  model: TrainedTextClassifier,
  texts: readonly string[],
): Float64Array[] {
  return texts.map((text) => softmax(forwardLogits(model.weights, featurize(text, model.recipe.featurizer))));
}

/** Labels predicted by the plain TypeScript forward pass (no onnxruntime): for search and quick checks. */
export function predictInMemory(model: TrainedTextClassifier, texts: readonly string[]): string[] {
  return texts.map((text) => {
    const logits = forwardLogits(model.weights, featurize(text, model.recipe.featurizer));
    let best = 0;
    for (let c = 1; c < logits.length; c++) if ((logits[c] as number) > (logits[best] as number)) best = c;
    return model.labels[best] as string;
  });
}

/** Evaluates a trained classifier in memory. */
export function evaluateInMemory(
  model: TrainedTextClassifier,
  examples: readonly LabelledText[],
): ClassificationReport {
  return classificationReport(
    examples.map((e) => e.label),
    predictInMemory(
      model,
      examples.map((e) => e.text),
    ),
    model.labels,
  );
}

/** One trial of {@link searchRecipe}. */
export interface SearchTrial {
  readonly recipe: TextClassifierRecipe;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly trainMs: number;
}

const SEARCH_SPACE = {
  dim: [16, 32, 64],
  lr: [0.1, 0.25, 0.5, 1],
  epochs: [5, 8, 10, 15],
  wordNgrams: [1, 2],
  charNgrams: [
    [0, 0],
    [3, 3],
    [3, 4],
    [3, 5],
  ] as [number, number][],
};

/**
 * Random search: `trials` recipes (the first is `base`, the others draw dimension, learning rate, epochs and
 * n-gram ranges from a small grid with a seeded generator), each trained on `train` and scored on
 * `validation`. The best is the most accurate, then the highest macro F1, then the earliest.
 */
export function searchRecipe(
  train: readonly LabelledText[],
  validation: readonly LabelledText[],
  base: TextClassifierRecipe,
  trials: number,
  onTrial: (trial: SearchTrial, index: number) => void = () => undefined,
): { best: TextClassifierRecipe; trials: SearchTrial[] } {
  if (validation.length === 0) throw new Error('a search needs a non-empty validation split');
  const random = seededRandom(base.training.seed ^ 0x5eed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const labels = labelsOf([...train, ...validation]);
  const results: SearchTrial[] = [];
  for (let t = 0; t < Math.max(1, trials); t++) {
    const recipe: TextClassifierRecipe =
      t === 0
        ? base
        : {
            featurizer: {
              ...base.featurizer,
              wordNgrams: pick(SEARCH_SPACE.wordNgrams),
              charNgrams: pick(SEARCH_SPACE.charNgrams),
            },
            training: {
              ...base.training,
              dim: pick(SEARCH_SPACE.dim),
              lr: pick(SEARCH_SPACE.lr),
              epochs: pick(SEARCH_SPACE.epochs),
            },
          };
    const model = trainTextClassifier(train, recipe, labels);
    const report = evaluateInMemory(model, validation);
    const trial = { recipe, accuracy: report.accuracy, macroF1: report.macroF1, trainMs: model.trainMs };
    results.push(trial);
    onTrial(trial, t);
  }
  const best = results.reduce((a, b) =>
    b.accuracy > a.accuracy || (b.accuracy === a.accuracy && b.macroF1 > a.macroF1) ? b : a,
  );
  return { best: best.recipe, trials: results };
}

/** Where and as what {@link writeTextClassifier} writes a model. */
export interface TextClassifierExport {
  readonly repository: string;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  /** Where the training data came from, for the manifest. */
  readonly source?: ModelManifest['source'];
  /** More manifest parameters (e.g. how the data was split). */
  readonly parameters?: Record<string, unknown>;
  /** A decision threshold for one label (see {@link DecisionThreshold}); absent: the most probable wins. */
  readonly decision?: DecisionThreshold;
}

/** File names inside a text classifier's model version. */
export const TEXT_MODEL_FILES = {
  fp32: 'model.onnx',
  int8: 'model-int8.onnx',
  featurizer: 'featurizer.json',
} as const;

/**
 * Writes `<repository>/<name>/<version>/` with `model.onnx` (fp32), `model-int8.onnx` (int8 embedding and
 * weights, dequantized in the graph), `featurizer.json` and the manifest (tiers: lambda → int8, gpu → fp32).
 */
export async function writeTextClassifier(
  model: TrainedTextClassifier,
  target: TextClassifierExport,
): Promise<ModelManifest> {
  const { labels, recipe, weights } = model;
  const classes = labels.length;
  const description = target.description ?? `fastText-style text classifier (${labels.join(', ')})`;
  const fp32 = buildFastTextOnnx(weights, { labels, description });
  const int8 = buildFastTextOnnx(quantizeWeights(weights), { labels, description: `${description}, int8` });
  return writeModelVersion(
    target.repository,
    {
      name: target.name,
      version: target.version,
      task: 'text/classify',
      platform: 'onnxruntime',
      description,
      // EmbeddingBag-style: every text's ids one after the other, and where each text starts.
      inputs: [
        { name: FASTTEXT_IO.ids, datatype: 'INT64', dims: [-1] },
        { name: FASTTEXT_IO.offsets, datatype: 'INT64', dims: [-1] },
      ],
      outputs: [
        { name: FASTTEXT_IO.probabilities, datatype: 'FP32', dims: [-1, classes] },
        { name: FASTTEXT_IO.logits, datatype: 'FP32', dims: [-1, classes] },
      ],
      // 0: the inputs have no batch dimension of their own (texts are told apart by `offsets`).
      maxBatchSize: 0,
      variants: {
        fp32: { file: TEXT_MODEL_FILES.fp32, description: 'float32 embedding and weights' },
        int8: {
          file: TEXT_MODEL_FILES.int8,
          description:
            'int8 embedding (per-row float16 scales) and weights (per-class scales), dequantized in the graph',
        },
      },
      defaultVariant: 'fp32',
      tiers: { lambda: 'int8', gpu: 'fp32' },
      parameters: {
        labels: [...labels],
        featurizer: TEXT_MODEL_FILES.featurizer,
        training: { ...recipe.training },
        ...target.parameters,
      },
      ...(target.source ? { source: target.source } : {}),
      ...(target.decision ? { decision: target.decision } : {}),
    },
    [
      { path: TEXT_MODEL_FILES.fp32, content: fp32 },
      { path: TEXT_MODEL_FILES.int8, content: int8 },
      { path: TEXT_MODEL_FILES.featurizer, content: `${JSON.stringify(recipe.featurizer, null, 2)}\n` },
    ],
  );
}
