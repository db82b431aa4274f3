/**
 * Tokenisation of imported transformer models: a Hugging Face `tokenizer.json` (WordPiece, BPE or Unigram)
 * read by `@huggingface/tokenizers` (pure JavaScript, no native code, nothing fetched), plus what that
 * library leaves to its caller: truncation to the model's maximum length with the special tokens kept,
 * padding per batch, attention masks and token type ids as int64 tensors.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';

/** The tensors of a batch of texts, row-major `[batch, length]`, padded to the batch's longest text. */
export interface EncodedBatch {
  readonly batch: number;
  /** Tokens of the longest text of the batch, special tokens included. */
  readonly length: number;
  readonly inputIds: BigInt64Array;
  /** 1 for a token, 0 for padding. */
  readonly attentionMask: BigInt64Array;
  readonly tokenTypeIds: BigInt64Array;
  /** Tokens of each text, special tokens included (after truncation). */
  readonly lengths: readonly number[];
  /** Whether each text was cut to the maximum length. */
  readonly truncated: readonly boolean[];
}

/** One text, tokenised and truncated, before padding. */
export interface EncodedText {
  readonly ids: readonly number[];
  readonly tokens: readonly string[];
  readonly typeIds: readonly number[];
  readonly truncated: boolean;
}

/** Options of {@link TextTokenizer.create}. */
export interface TextTokenizerOptions {
  /** Most tokens of one text, special tokens included (the model's `max_position_embeddings` or less). */
  readonly maxLength: number;
  /** `tokenizer_config.json`, when the export has one (it names special tokens and clean-up rules). */
  readonly config?: Record<string, unknown>;
}

/**
 * A tokenizer of a Hugging Face export, ready to feed a BERT-style graph.
 *
 * @example
 * ```ts
 * const tokenizer = await TextTokenizer.fromFiles('export/tokenizer.json', undefined, { maxLength: 128 });
 * const batch = tokenizer.encodeBatch(['first text', 'a second, longer text']);
 * ```
 */
export class TextTokenizer {
  readonly padId: number;
  /** Tokens the post-processor adds to one text ([CLS] and [SEP] for BERT). */
  private readonly specialCount: number;

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    padToken: string | undefined,
  ) {
    this.padId = (padToken === undefined ? undefined : tokenizer.token_to_id(padToken)) ?? 0;
    this.specialCount = tokenizer.post_processor?.post_process([], null, true).tokens.length ?? 0;
    if (this.specialCount >= maxLength) {
      throw new Error(
        `a maximum length of ${maxLength} leaves no room beside ${this.specialCount} special tokens`,
      );
    }
  }

  /** A tokenizer from the parsed `tokenizer.json` (and `tokenizer_config.json`). */
  static create(tokenizerJson: Record<string, unknown>, options: TextTokenizerOptions): TextTokenizer {
    const config = options.config ?? {};
    const tokenizer = new Tokenizer(tokenizerJson, config);
    return new TextTokenizer(tokenizer, options.maxLength, padTokenOf(tokenizerJson, config));
  }

  /** A tokenizer from the files of an export. */
  static async fromFiles(
    tokenizerPath: string,
    configPath: string | undefined,
    options: Omit<TextTokenizerOptions, 'config'>,
  ): Promise<TextTokenizer> {
    const json = JSON.parse(await readFile(tokenizerPath, 'utf8')) as Record<string, unknown>;
    const config = configPath
      ? (JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>)
      : undefined;
    return TextTokenizer.create(json, { ...options, ...(config ? { config } : {}) });
  }

  /**
   * Tokenises one text with its special tokens, cut to {@link maxLength} the way Hugging Face's tokenizers
   * truncate: the text's own tokens are cut at the end, then the special tokens are added, so a truncated
   * BERT input still ends in [SEP].
   */
  encode(text: string): EncodedText {
    const whole = this.tokenizer.encode(text, { return_token_type_ids: true });
    if (whole.ids.length <= this.maxLength) {
      return {
        ids: whole.ids,
        tokens: whole.tokens,
        typeIds: whole.token_type_ids ?? new Array(whole.ids.length).fill(0),
        truncated: false,
      };
    }
    const own = this.tokenizer.tokenize(text).slice(0, this.maxLength - this.specialCount);
    const processed: { tokens: string[]; token_type_ids?: number[] } =
      this.tokenizer.post_processor?.post_process(own, null, true) ?? { tokens: own };
    const tokens = processed.tokens;
    return {
      ids: tokens.map((t) => this.tokenizer.token_to_id(t) ?? this.unknownId()),
      tokens,
      typeIds: processed.token_type_ids ?? new Array(tokens.length).fill(0),
      truncated: true,
    };
  }

  /** Tokenises texts and pads them to the longest of the batch, with the attention mask. */
  encodeBatch(texts: readonly string[]): EncodedBatch {
    return padBatch(
      texts.map((t) => this.encode(t)),
      this.padId,
    );
  }

  private unknownId(): number {
    const model = this.tokenizer.model as unknown as { unk_token_id?: number } | null;
    return model?.unk_token_id ?? 0;
  }
}

/** Pads encoded texts to the longest of them. */
export function padBatch(encoded: readonly EncodedText[], padId: number): EncodedBatch {
  const batch = encoded.length;
  const length = Math.max(1, ...encoded.map((e) => e.ids.length));
  const inputIds = new BigInt64Array(batch * length).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(batch * length);
  const tokenTypeIds = new BigInt64Array(batch * length);
  for (const [row, e] of encoded.entries()) {
    for (let t = 0; t < e.ids.length; t++) {
      inputIds[row * length + t] = BigInt(e.ids[t] as number);
      attentionMask[row * length + t] = 1n;
      tokenTypeIds[row * length + t] = BigInt(e.typeIds[t] ?? 0);
    }
  }
  return {
    batch,
    length,
    inputIds,
    attentionMask,
    tokenTypeIds,
    lengths: encoded.map((e) => e.ids.length),
    truncated: encoded.map((e) => e.truncated),
  };
}

/** The padding token: `tokenizer_config.json`'s `pad_token`, the JSON's padding settings, or `[PAD]`/`<pad>`. */
function padTokenOf(json: Record<string, unknown>, config: Record<string, unknown>): string | undefined {
  const fromConfig = config.pad_token;
  if (typeof fromConfig === 'string') return fromConfig;
  if (fromConfig && typeof fromConfig === 'object' && 'content' in fromConfig) {
    return String((fromConfig as { content: unknown }).content);
  }
  const padding = json.padding as { pad_token?: unknown } | null | undefined;
  if (typeof padding?.pad_token === 'string') return padding.pad_token;
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as { content?: unknown }[]) : [];
  const known = added.map((t) => t.content).find((c) => c === '[PAD]' || c === '<pad>');
  return typeof known === 'string' ? known : undefined;
}
