/**
 * Text embeddings from an imported Hugging Face encoder: token vectors from {@link TransformerModel},
 * pooled into one vector per text as the manifest names (`mean` over the attention mask by default, as
 * sentence-transformers does; `cls`; the graph's `pooler` output; or `none` for a graph that pools itself),
 * then scaled to length 1 unless the manifest says not to.
 */
import { ModelNotReadyError } from '../core/errors.ts';
import type { Pooling } from '../core/model-store/manifest.ts';
import type { LoadedModel } from '../core/model-store/types.ts';
import { Stopwatch } from '../core/timings.ts';
import { TransformerModel, type TransformerOutput } from './transformer-model.ts';

/** Options of {@link TextEmbedder.embed}. */
export interface EmbedOptions {
  readonly stopwatch?: Stopwatch;
  /** Most `texts × padded length` per session run. */
  readonly maxTokensPerRun?: number;
}

/**
 * An imported embedding model.
 *
 * @example
 * ```ts
 * const embedder = await TextEmbedder.create(await store.load('my-minilm'));
 * const [a, b] = await embedder.embed(['a cat sat', 'a feline was sitting']);
 * const cosine = a.reduce((s, v, i) => s + v * b[i], 0); // vectors have length 1
 * ```
 */
export class TextEmbedder {
  private constructor(
    private readonly model: TransformerModel,
    readonly pooling: Pooling,
    readonly normalize: boolean,
  ) {}

  /** The embedder of a loaded model version with `transformer` settings. */
  static async create(loaded: LoadedModel): Promise<TextEmbedder> {
    const model = await TransformerModel.create(loaded);
    return new TextEmbedder(model, model.settings.pooling ?? 'mean', model.settings.normalize ?? true);
  }

  /** Where the model comes from, as `name@version`. */
  get where(): string {
    return this.model.where;
  }

  /** One vector per text, in order. */
  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const stopwatch = options.stopwatch ?? new Stopwatch();
    const outputs = await this.model.run(texts, {
      stopwatch,
      ...(options.maxTokensPerRun ? { maxTokensPerRun: options.maxTokensPerRun } : {}),
    });
    return stopwatch.timeSync('postprocess', () => outputs.map((output) => this.vectorOf(output)));
  }

  private vectorOf(output: TransformerOutput): Float32Array {
    const pooled = poolTokens(output, this.pooling, this.where);
    return this.normalize ? normalized(pooled) : pooled;
  }
}

/** A text's vector from its output: the mean or the first of its token vectors, or the output as it is. */
export function poolTokens(output: TransformerOutput, pooling: Pooling, where = 'the model'): Float32Array {
  const { values, tokens } = output;
  if (pooling === 'pooler' || pooling === 'none') return values;
  if (tokens === 0 || values.length % tokens !== 0) {
    throw new ModelNotReadyError(`model ${where} gave no token vectors to pool (${pooling})`);
  }
  const width = values.length / tokens;
  if (pooling === 'cls') return values.slice(0, width);
  // Only the text's own tokens are here (the padding was cut off), which is mean pooling over the mask.
  const mean = new Float32Array(width);
  const sums = new Float64Array(width);
  for (let t = 0; t < tokens; t++)
    for (let d = 0; d < width; d++) sums[d] = (sums[d] as number) + (values[t * width + d] as number);
  for (let d = 0; d < width; d++) mean[d] = (sums[d] as number) / tokens;
  return mean;
}

/** The vector scaled to length 1 (a zero vector stays zero). */
export function normalized(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  return norm > 0 ? vector.map((v) => v / norm) : vector;
}
