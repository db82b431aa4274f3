/**
 * `text/classify` on an imported Hugging Face sequence classifier: logits per text from
 * {@link TransformerModel}, softmax over the classes (single-label) or a sigmoid per class with every label
 * over the threshold (multi-label), labels from the export's `id2label`.
 */
import { InvalidInputError, ModelNotReadyError } from '../core/errors.ts';
import type { LoadedModel } from '../core/model-store/types.ts';
import { Stopwatch } from '../core/timings.ts';
import type { ClassifyOptions, TextClassification } from './text-classifier.ts';
import { TextClassifier } from './text-classifier.ts';
import { isTransformerModel, TransformerModel } from './transformer-model.ts';

/** Probability from which a multi-label classifier gives a label, unless the manifest says otherwise. */
export const DEFAULT_THRESHOLD = 0.5;

/** A classification by a multi-label model: {@link TextClassification} plus every label over the threshold. */
export interface MultiLabelClassification extends TextClassification {
  /** Labels whose probability reaches the threshold, most probable first (possibly none). */
  readonly labels: string[];
}

/** What `text/classify` needs of a classifier, whichever kind of model it runs. */
export interface Classifier {
  classify(texts: readonly string[], options?: ClassifyOptions): Promise<TextClassification[]>;
}

/**
 * The classifier of a loaded model: an imported transformer ({@link TransformerClassifier}) or the fastText
 * model Inferlet ships ({@link TextClassifier}), by what its manifest declares.
 */
export function createTextClassifier(loaded: LoadedModel): Promise<Classifier> {
  return isTransformerModel(loaded) ? TransformerClassifier.create(loaded) : TextClassifier.create(loaded);
}

/**
 * An imported sequence classifier.
 *
 * @example
 * ```ts
 * const classifier = await TransformerClassifier.create(await store.load('my-sentiment'));
 * const [{ label, scores }] = await classifier.classify(['what a lovely day']);
 * ```
 */
export class TransformerClassifier implements Classifier {
  private constructor(
    private readonly model: TransformerModel,
    readonly labels: readonly string[],
    readonly multiLabel: boolean,
    readonly threshold: number,
  ) {}

  /** The classifier of a loaded model version whose manifest names its labels. */
  static async create(loaded: LoadedModel): Promise<TransformerClassifier> {
    const model = await TransformerModel.create(loaded);
    const { labels, problemType, threshold } = model.settings;
    if (!labels?.length)
      throw new ModelNotReadyError(`model ${model.where} names no labels; it is not a classifier`);
    return new TransformerClassifier(
      model,
      labels,
      problemType === 'multi_label_classification',
      threshold ?? DEFAULT_THRESHOLD,
    );
  }

  /**
   * Classifies texts, in order. Explanations are answered with 400: a transformer's decision has no exact
   * per-token split such as the fastText model's.
   */
  async classify(texts: readonly string[], options: ClassifyOptions = {}): Promise<TextClassification[]> {
    if ((options.explainTokens ?? 0) > 0) {
      throw new InvalidInputError(
        `model ${this.model.where} cannot explain its answers (only the fastText classifier can); leave out "explain"`,
      );
    }
    const stopwatch = options.stopwatch ?? new Stopwatch();
    const outputs = await this.model.run(texts, { stopwatch });
    return stopwatch.timeSync('postprocess', () =>
      outputs.map(({ values }) => {
        if (values.length !== this.labels.length) {
          throw new ModelNotReadyError(
            `model ${this.model.where} gave ${values.length} logits for ${this.labels.length} labels`,
          );
        }
        return this.multiLabel ? this.multiLabelOf(values) : this.singleLabelOf(values);
      }),
    );
  }

  private singleLabelOf(logits: Float32Array): TextClassification {
    const max = Math.max(...logits);
    const e = Array.from(logits, (z) => Math.exp(z - max));
    const sum = e.reduce((s, v) => s + v, 0);
    const p = e.map((v) => v / sum);
    const best = p.indexOf(Math.max(...p));
    return { label: this.labels[best] as string, score: p[best] as number, scores: this.byLabel(p) };
  }

  private multiLabelOf(logits: Float32Array): MultiLabelClassification {
    const p = Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
    const best = p.indexOf(Math.max(...p));
    const labels = p
      .map((score, i) => ({ score, label: this.labels[i] as string }))
      .filter((l) => l.score >= this.threshold)
      .sort((a, b) => b.score - a.score)
      .map((l) => l.label);
    return { label: this.labels[best] as string, score: p[best] as number, scores: this.byLabel(p), labels };
  }

  private byLabel(p: readonly number[]): Record<string, number> {
    return Object.fromEntries(this.labels.map((label, i) => [label, p[i] as number]));
  }
}
