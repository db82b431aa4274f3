/**
 * The text classification pipeline on a loaded fastText-style model: featurise → one session run for the
 * whole batch (ids one after the other, no padding; more runs only past {@link MAX_VALUES_PER_RUN}) → labels,
 * scores and, on request, exact explanations.
 */
import { readFile } from 'node:fs/promises';
import { batchingPays, DynamicBatcher, medianMs } from '../core/batching.ts';
import { readSetting } from '../core/config/env.ts';
import { ModelNotReadyError } from '../core/errors.ts';
import { TimeSlicer } from '../core/event-loop.ts';
import type { DecisionThreshold } from '../core/model-store/manifest.ts';
import type { LoadedModel } from '../core/model-store/types.ts';
import { ort } from '../core/onnx.ts';
import { Stopwatch } from '../core/timings.ts';
import { type FastTextWeights, featureContributions } from './fasttext-model.ts';
import { FASTTEXT_IO, readFastTextOnnx } from './fasttext-onnx.ts';
import {
  explainFeatures,
  type FeaturizerSettings,
  featurize,
  parseFeaturizerSettings,
} from './featurizer.ts';

/** One token's share in the decision, as an explanation lists it. */
export interface TokenContribution {
  /** A word (its unigram and character n-grams together) or a word pair `w1 w2` (its bigram). */
  readonly token: string;
  /** Its exact share in `logit[label] − logit[against]`; positive pushes towards `label`. */
  readonly contribution: number;
}

/**
 * Why a text got its label, exactly: `bias + Σ tokens[i].contribution + rest = logitDifference`, where
 * the tokens are those with the largest absolute contribution and `rest` is the sum of all the others.
 */
export interface Explanation {
  /** The runner-up label the decision is measured against. */
  readonly against: string;
  /** `logit[label] − logit[against]`. */
  readonly logitDifference: number;
  /** `bias[label] − bias[against]`: what a text with no features would get. */
  readonly bias: number;
  readonly tokens: TokenContribution[];
  /** Sum of the contributions of the tokens not listed. */
  readonly rest: number;
}

/** The classification of one text. */
export interface TextClassification {
  /** The most probable label, or the manifest's thresholded label when its probability reaches the threshold. */
  readonly label: string;
  /** Probability of `label`. */
  readonly score: number;
  /** Probability of every label. */
  readonly scores: Record<string, number>;
  readonly explanation?: Explanation;
}

/** Options of {@link TextClassifier.classify}. */
export interface ClassifyOptions {
  /** How many tokens each explanation lists; 0 (the default) explains nothing. */
  readonly explainTokens?: number;
  /** Accumulates the stage timings; a fresh one when absent. */
  readonly stopwatch?: Stopwatch;
  /** Most `ids × classes` per session run; default {@link MAX_VALUES_PER_RUN}. */
  readonly maxValuesPerRun?: number;
}

/**
 * Most `ids × classes` of one session run: the graph keeps a few float32/float64 numbers per id and class
 * (about 28 bytes), so this bounds a run of many long texts to some 60 MB. One text alone may exceed it
 * (its length is capped by the featuriser's `maxTokens`).
 */
export const MAX_VALUES_PER_RUN = 1 << 21;

/**
 * A loaded text classifier.
 *
 * @example
 * ```ts
 * const classifier = await TextClassifier.create(await store.load('spam-fasttext'));
 * const [result] = await classifier.classify(['WIN a FREE cruise, click now!'], { explainTokens: 5 });
 * ```
 */
export class TextClassifier {
  private weights: Promise<FastTextWeights> | undefined;
  /** Merges the session runs of concurrent requests, where that pays (`BATCHING`); decided at first use. */
  private batcher: Promise<DynamicBatcher<Int32Array, ClassScores> | undefined> | undefined;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly labels: readonly string[],
    readonly featurizer: FeaturizerSettings,
    private readonly modelFile: string,
    /** The manifest's decision rule (`decision`), its label as an index; absent: the most probable wins. */
    readonly decision?: DecisionThreshold & { readonly index: number },
  ) {}

  /** Builds the classifier of a loaded model version: its session, labels and featuriser settings. */
  static async create(loaded: LoadedModel): Promise<TextClassifier> {
    const { manifest, variant, files, session } = loaded;
    const where = `${manifest.name}@${manifest.version}`;
    const parameters = manifest.parameters ?? {};
    const labels = parameters.labels;
    const settingsFile = parameters.featurizer;
    const modelFile = files.get(manifest.variants[variant]?.file ?? '');
    if (
      !session ||
      !modelFile ||
      !Array.isArray(labels) ||
      !labels.every((l) => typeof l === 'string') ||
      typeof settingsFile !== 'string'
    ) {
      throw new ModelNotReadyError(
        `model ${where} is not a text classifier (it needs parameters.labels and parameters.featurizer)`,
      );
    }
    const settingsPath = files.get(settingsFile);
    if (!settingsPath) throw new ModelNotReadyError(`model ${where} lacks its file "${settingsFile}"`);
    const settings = parseFeaturizerSettings(JSON.parse(await readFile(settingsPath, 'utf8')), where);
    const decision = manifest.decision;
    const index = decision ? labels.indexOf(decision.label) : -1;
    if (decision && index < 0)
      throw new ModelNotReadyError(
        `model ${where}: its decision label "${decision.label}" is not one of its labels`,
      );
    return new TextClassifier(
      session,
      labels as string[],
      settings,
      modelFile,
      decision ? { ...decision, index } : undefined,
    );
  }

  /**
   * Classifies texts, in order, with as few session runs as memory allows (usually one). Featurisation and
   * explanation go a text at a time with a yield every ~20 ms, so a batch of long texts (up to ~30 ms each)
   * never holds the event loop for long.
   */
  async classify(texts: readonly string[], options: ClassifyOptions = {}): Promise<TextClassification[]> {
    const stopwatch = options.stopwatch ?? new Stopwatch();
    const explainTokens = options.explainTokens ?? 0;
    const slicer = new TimeSlicer();
    const ids: Int32Array[] = [];
    for (const text of texts) {
      ids.push(stopwatch.timeSync('preprocess', () => featurize(text, this.featurizer)));
      await slicer.pause();
    }
    const classes = this.labels.length;
    const probabilities = new Float32Array(texts.length * classes);
    const logits = new Float32Array(texts.length * classes);
    const maxIds = Math.max(1, Math.floor((options.maxValuesPerRun ?? MAX_VALUES_PER_RUN) / classes));
    for (const chunk of chunksOf(ids, maxIds)) {
      const rows = await stopwatch.time('inference', () =>
        this.scores(chunk.map((t) => ids[t] as Int32Array)),
      );
      for (const [row, index] of chunk.entries()) {
        const scores = rows[row] as ClassScores;
        probabilities.set(scores.probabilities, index * classes);
        logits.set(scores.logits, index * classes);
      }
    }
    const weights = explainTokens > 0 ? await this.explanationWeights() : undefined;
    const results: TextClassification[] = [];
    for (const [i, text] of texts.entries()) {
      results.push(
        stopwatch.timeSync('postprocess', () => {
          const p = probabilities.subarray(i * classes, (i + 1) * classes);
          const [best, second] = decide(p, this.decision);
          const scores: Record<string, number> = {};
          for (const [c, label] of this.labels.entries()) scores[label] = p[c] as number;
          const result = { label: this.labels[best] as string, score: p[best] as number, scores };
          if (!weights) return result;
          const z = logits.subarray(i * classes, (i + 1) * classes);
          return { ...result, explanation: this.explain(weights, text, z, best, second, explainTokens) };
        }),
      );
      await slicer.pause();
    }
    return results;
  }

  /**
   * The scores of featurised texts: from a session run of their own, or from a share of a run merged with
   * the texts of concurrent requests (HTTP and uploads alike); the same numbers either way.
   */
  private async scores(texts: readonly Int32Array[]): Promise<ClassScores[]> {
    this.batcher ??= this.newBatcher();
    const batcher = await this.batcher;
    return batcher ? batcher.submit(texts) : this.run(texts);
  }

  /** One session run over `texts`, split into the scores of each. */
  private async run(texts: readonly Int32Array[]): Promise<ClassScores[]> {
    const out = await this.session.run(bagInputs(texts));
    const p = out[FASTTEXT_IO.probabilities]?.data as Float32Array;
    const z = out[FASTTEXT_IO.logits]?.data as Float32Array;
    const classes = this.labels.length;
    return texts.map((_, row) => ({
      probabilities: p.slice(row * classes, (row + 1) * classes),
      logits: z.slice(row * classes, (row + 1) * classes),
    }));
  }

  /**
   * The batcher of this model, or none: `BATCHING=on` or `off`, or by default (`auto`) as measured here
   * and now, one text alone against 32 in one run (see `batchingPays`: on 2 CPU cores it does not pay).
   */
  private async newBatcher(): Promise<DynamicBatcher<Int32Array, ClassScores> | undefined> {
    const setting = readSetting('BATCHING');
    if (setting === 'off') return undefined;
    if (setting === 'auto') {
      const text = featurize(
        'Measuring what one run of the classifier costs, alone and in a batch.',
        this.featurizer,
      );
      const batch = Array.from({ length: 32 }, () => text);
      const singleMs = await medianMs(() => this.run([text]));
      const batchMs = await medianMs(() => this.run(batch));
      if (!batchingPays({ singleMs, batchMs, size: batch.length })) return undefined;
    }
    return new DynamicBatcher<Int32Array, ClassScores>({
      maxBatch: 1024,
      // Runs are bounded by ids as a request's own are, so merged texts stay within the same memory.
      maxWeight: MAX_VALUES_PER_RUN / this.labels.length,
      weigh: (ids) => ids.length,
      maxDelayMs: 0,
      run: (texts) => this.run(texts),
    });
  }

  /** The weights the session computes with, read once from the model file when first needed. */
  private explanationWeights(): Promise<FastTextWeights> {
    this.weights ??= readFile(this.modelFile).then((bytes) => readFastTextOnnx(bytes));
    return this.weights;
  }

  private explain(
    weights: FastTextWeights,
    text: string,
    logits: Float32Array,
    label: number,
    against: number,
    top: number,
  ): Explanation {
    const features = explainFeatures(text, this.featurizer);
    const shares = featureContributions(
      weights,
      features.map((f) => f.id),
      label,
      against,
    );
    const byToken = new Map<string, number>();
    for (const [i, f] of features.entries())
      byToken.set(f.token, (byToken.get(f.token) ?? 0) + (shares[i] as number));
    const ranked = [...byToken].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const tokens = ranked.slice(0, top).map(([token, contribution]) => ({ token, contribution }));
    let rest = 0;
    for (const [, contribution] of ranked.slice(top)) rest += contribution;
    return {
      against: this.labels[against] as string,
      logitDifference: (logits[label] as number) - (logits[against] as number),
      bias: (weights.bias[label] as number) - (weights.bias[against] as number),
      tokens,
      rest,
    };
  }
}

/**
 * The label given and the runner-up an explanation measures it against. Without a decision rule the most
 * probable class wins; with one, its label wins exactly when its probability reaches the threshold, and
 * otherwise the most probable of the others.
 */
function decide(
  p: ArrayLike<number>,
  decision: { readonly index: number; readonly threshold: number } | undefined,
): [number, number] {
  const [best, second] = topTwo(p);
  if (!decision || p.length < 2) return [best, second];
  const guarded = decision.index;
  if ((p[guarded] as number) >= decision.threshold) return [guarded, guarded === best ? second : best];
  if (best !== guarded) return [best, second === best ? guarded : second];
  return [second, guarded];
}

/** The best and second-best class (the second is the best when there is only one). */
function topTwo(p: ArrayLike<number>): [number, number] {
  let best = 0;
  let second = -1;
  for (let c = 1; c < p.length; c++) {
    if ((p[c] as number) > (p[best] as number)) {
      second = best;
      best = c;
    } else if (second < 0 || (p[c] as number) > (p[second] as number)) second = c;
  }
  return [best, second < 0 ? best : second];
}

/** Splits texts, in order, into session runs of at most `maxIds` ids (usually one run). */
function chunksOf(ids: readonly Int32Array[], maxIds: number): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let total = 0;
  for (const [index, text] of ids.entries()) {
    if (current.length > 0 && total + text.length > maxIds) {
      chunks.push(current);
      current = [];
      total = 0;
    }
    current.push(index);
    total += text.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The class probabilities and logits of one text. */
interface ClassScores {
  readonly probabilities: Float32Array;
  readonly logits: Float32Array;
}

/** The model inputs of some texts: all their ids one after the other, and where each text starts. */
function bagInputs(texts: readonly Int32Array[]): Record<string, ort.Tensor> {
  const total = texts.reduce((sum, text) => sum + text.length, 0);
  const flat = new BigInt64Array(total);
  // Ids are below 2^31: writing the low 32-bit halves (little-endian) avoids a BigInt per element.
  const halves = new Int32Array(flat.buffer);
  const offsets = new BigInt64Array(texts.length);
  let at = 0;
  for (const [row, text] of texts.entries()) {
    offsets[row] = BigInt(at);
    for (let k = 0; k < text.length; k++) halves[2 * (at + k)] = text[k] as number;
    at += text.length;
  }
  return {
    [FASTTEXT_IO.ids]: new ort.Tensor('int64', flat, [total]),
    [FASTTEXT_IO.offsets]: new ort.Tensor('int64', offsets, [texts.length]),
  };
}
