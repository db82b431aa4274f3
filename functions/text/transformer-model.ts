/**
 * An imported Hugging Face transformer on a loaded model version: its tokenizer and its session. Texts are
 * tokenised, cut to the model's maximum length, padded per run and run in as few runs as the token budget
 * allows; each text's output row comes back on its own, so a text scores the same alone or in a batch.
 */

import { ModelNotReadyError } from '../core/errors.ts';
import { TimeSlicer } from '../core/event-loop.ts';
import type { TransformerSettings } from '../core/model-store/manifest.ts';
import type { LoadedModel } from '../core/model-store/types.ts';
import { ort } from '../core/onnx.ts';
import { Stopwatch } from '../core/timings.ts';
import { type EncodedText, padBatch, TextTokenizer } from './tokenizer.ts';

/**
 * Most `texts × padded length` of one session run. Attention keeps `length²` scores per text and head, so
 * this bounds a run of 64 texts of 512 tokens of a BERT-base to some hundreds of MB; shorter texts share a
 * run, longer ones go in more runs.
 */
export const MAX_TOKENS_PER_RUN = 8192;

/** One text's output: a row of `width` numbers (logits, a pooled vector), or its tokens' vectors. */
export interface TransformerOutput {
  /** `[width]` for a per-text output, `[tokens × width]` (the text's own tokens) for a per-token one. */
  readonly values: Float32Array;
  /** Tokens of the text (after truncation), special tokens included. */
  readonly tokens: number;
  readonly truncated: boolean;
}

/** Options of {@link TransformerModel.run}. */
export interface TransformerRunOptions {
  readonly stopwatch?: Stopwatch;
  /** Most `texts × padded length` per run; default {@link MAX_TOKENS_PER_RUN}. */
  readonly maxTokensPerRun?: number;
}

/** Whether a model version is an imported transformer (its manifest has `transformer` settings). */
export function isTransformerModel(loaded: LoadedModel): boolean {
  return loaded.manifest.transformer !== undefined;
}

/**
 * The tokenizer and session of an imported transformer.
 *
 * @example
 * ```ts
 * const model = await TransformerModel.create(await store.load('my-bert'));
 * const [first] = await model.run(['some text']);
 * ```
 */
export class TransformerModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly tokenizer: TextTokenizer,
    readonly settings: TransformerSettings,
    readonly where: string,
  ) {}

  /** The transformer of a loaded model version; a model without `transformer` settings is refused. */
  static async create(loaded: LoadedModel): Promise<TransformerModel> {
    const { manifest, files, session } = loaded;
    const where = `${manifest.name}@${manifest.version}`;
    const settings = manifest.transformer;
    if (!settings || !session) {
      throw new ModelNotReadyError(
        `model ${where} is not an imported transformer (its manifest has no "transformer")`,
      );
    }
    const tokenizerPath = files.get(settings.tokenizer);
    if (!tokenizerPath) throw new ModelNotReadyError(`model ${where} lacks its file "${settings.tokenizer}"`);
    const configPath = settings.tokenizerConfig ? files.get(settings.tokenizerConfig) : undefined;
    const tokenizer = await TextTokenizer.fromFiles(tokenizerPath, configPath, {
      maxLength: settings.maxLength,
    });
    return new TransformerModel(session, tokenizer, settings, where);
  }

  /**
   * Runs texts, in order, and returns each text's `settings.output` row. Tokenisation goes a text at a time
   * with a yield every ~20 ms; texts are padded per run, not to the model's maximum.
   */
  async run(texts: readonly string[], options: TransformerRunOptions = {}): Promise<TransformerOutput[]> {
    const stopwatch = options.stopwatch ?? new Stopwatch();
    const slicer = new TimeSlicer();
    const encoded: EncodedText[] = [];
    for (const text of texts) {
      encoded.push(stopwatch.timeSync('preprocess', () => this.tokenizer.encode(text)));
      await slicer.pause();
    }
    const outputs: TransformerOutput[] = new Array(texts.length);
    for (const run of runsOf(encoded, options.maxTokensPerRun ?? MAX_TOKENS_PER_RUN)) {
      const batch = stopwatch.timeSync('preprocess', () =>
        padBatch(
          run.map((i) => encoded[i] as EncodedText),
          this.tokenizer.padId,
        ),
      );
      const shape = [batch.batch, batch.length];
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', batch.inputIds, shape),
        attention_mask: new ort.Tensor('int64', batch.attentionMask, shape),
      };
      if (this.settings.tokenTypeIds)
        feeds.token_type_ids = new ort.Tensor('int64', batch.tokenTypeIds, shape);
      const result = await stopwatch.time('inference', () => this.session.run(feeds, [this.settings.output]));
      const tensor = result[this.settings.output];
      if (tensor?.type !== 'float32') {
        throw new ModelNotReadyError(`model ${this.where} gave no float32 output "${this.settings.output}"`);
      }
      const data = tensor.data as Float32Array;
      const dims = tensor.dims;
      // [B, width] per text, or [B, T, width] per token: a text keeps only its own tokens' rows.
      const perToken = dims.length === 3;
      const width = Number(dims.at(-1));
      for (const [row, index] of run.entries()) {
        const tokens = batch.lengths[row] as number;
        const start = perToken ? row * batch.length * width : row * width;
        const end = start + (perToken ? tokens : 1) * width;
        outputs[index] = {
          values: data.slice(start, end),
          tokens,
          truncated: batch.truncated[row] as boolean,
        };
      }
    }
    return outputs;
  }
}

/** Splits texts, in order, into runs whose `texts × longest` stays within `maxTokens` (one text at least). */
function runsOf(encoded: readonly EncodedText[], maxTokens: number): number[][] {
  const runs: number[][] = [];
  let current: number[] = [];
  let longest = 0;
  for (const [index, text] of encoded.entries()) {
    const length = Math.max(longest, text.ids.length);
    if (current.length > 0 && (current.length + 1) * length > maxTokens) {
      runs.push(current);
      current = [];
      longest = 0;
    }
    current.push(index);
    longest = Math.max(longest, text.ids.length);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}
