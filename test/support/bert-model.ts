/**
 * Small BERT-shaped models, built in the test since no pretrained transformer can be downloaded here:
 * embeddings (word + position + token type, LayerNorm), one single-head self-attention layer with a residual
 * and LayerNorm, and a pooler + classifier head, with fixed seeded weights; the files of a Hugging Face
 * export around them (`tokenizer.json`, `config.json`, ...); and a reference forward pass in plain
 * TypeScript (float64) that the served outputs are compared with.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** The WordPiece vocabulary of the test models: specials, whole words, sub-words, and every letter. */
export const WORDPIECE_VOCAB: readonly string[] = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  ...'the a an free win cruise click now meeting at noon report send un hello world money cash prize you lunch agenda office please'.split(
    ' ',
  ),
  '##aff',
  '##able',
  '##s',
  '##ing',
  '!',
  ',',
  '.',
  ...'abcdefghijklmnopqrstuvwxyz'.split(''),
  ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `##${c}`),
];

/** Seeded pseudo-random numbers in [-scale, scale) (mulberry32). */
function random(seed: number, scale: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  };
}

/** The weights of a test model, float32 as the graph holds them. */
export interface BertWeights {
  readonly vocab: number;
  readonly hidden: number;
  readonly maxPositions: number;
  readonly labels: number;
  readonly word: Float32Array;
  readonly position: Float32Array;
  readonly tokenType: Float32Array;
  readonly ln0: { gamma: Float32Array; beta: Float32Array };
  readonly q: { w: Float32Array; b: Float32Array };
  readonly k: { w: Float32Array; b: Float32Array };
  readonly v: { w: Float32Array; b: Float32Array };
  readonly o: { w: Float32Array; b: Float32Array };
  readonly ln1: { gamma: Float32Array; beta: Float32Array };
  readonly pooler: { w: Float32Array; b: Float32Array };
  readonly classifier: { w: Float32Array; b: Float32Array };
}

/** Options of the test models. */
export interface BertOptions {
  readonly seed?: number;
  readonly hidden?: number;
  readonly maxPositions?: number;
  /** Number of classes; the graph outputs `logits` [B, labels] when `head` is `classifier`. */
  readonly labels?: number;
  /** `classifier`: `logits`; `encoder`: `last_hidden_state` and `pooler_output`. */
  readonly head: 'classifier' | 'encoder';
  /** Whether the graph takes `token_type_ids` (DistilBERT-style exports do not). */
  readonly tokenTypes?: boolean;
}

/** Seeded weights of a model of the given shape. */
export function bertWeights(options: BertOptions): BertWeights {
  const hidden = options.hidden ?? 16;
  const maxPositions = options.maxPositions ?? 32;
  const labels = options.labels ?? 2;
  const next = random(options.seed ?? 7, 0.5);
  const fill = (n: number, scale = 1) => Float32Array.from({ length: n }, () => next() * scale);
  const dense = (inputs: number, outputs: number) => ({ w: fill(inputs * outputs), b: fill(outputs, 0.2) });
  const norm = () => ({
    gamma: Float32Array.from({ length: hidden }, () => 1 + next() * 0.2),
    beta: fill(hidden, 0.2),
  });
  return {
    vocab: WORDPIECE_VOCAB.length,
    hidden,
    maxPositions,
    labels,
    word: fill(WORDPIECE_VOCAB.length * hidden, 2),
    position: fill(maxPositions * hidden),
    tokenType: fill(2 * hidden),
    ln0: norm(),
    q: dense(hidden, hidden),
    k: dense(hidden, hidden),
    v: dense(hidden, hidden),
    o: dense(hidden, hidden),
    ln1: norm(),
    pooler: dense(hidden, hidden),
    classifier: dense(hidden, labels),
  };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const tensor = (name: string, dataType: number, dims: number[], data: ArrayBufferView) => ({
  name,
  dataType,
  dims,
  rawData: bytesOf(data),
});
const node = (
  opType: string,
  input: string[],
  output: string[],
  attribute: onnxProto.onnx.IAttributeProto[] = [],
) => ({
  opType,
  input,
  output,
  name: output[0] ?? opType,
  attribute,
});
const intAttr = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
const floatAttr = (name: string, f: number) => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
const intsAttr = (name: string, ints: number[]) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints,
});
const valueInfo = (name: string, elemType: number, dims: (number | string)[]) => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
});

/** Masked positions get this added to their attention scores, as BERT does. */
const MASKED = -10000;
const EPSILON = 1e-12;

/** The ONNX graph of a test model, as Optimum exports BERT (input and output names, int64 inputs). */
export function buildBertOnnx(weights: BertWeights, options: BertOptions): Uint8Array {
  const { hidden, vocab, maxPositions, labels } = weights;
  const tokenTypes = options.tokenTypes ?? true;
  const initializer = [
    tensor('word_embeddings', T.FLOAT, [vocab, hidden], weights.word),
    tensor('position_embeddings', T.FLOAT, [maxPositions, hidden], weights.position),
    tensor('token_type_embeddings', T.FLOAT, [2, hidden], weights.tokenType),
    tensor('ln0_gamma', T.FLOAT, [hidden], weights.ln0.gamma),
    tensor('ln0_beta', T.FLOAT, [hidden], weights.ln0.beta),
    tensor('ln1_gamma', T.FLOAT, [hidden], weights.ln1.gamma),
    tensor('ln1_beta', T.FLOAT, [hidden], weights.ln1.beta),
    ...(['q', 'k', 'v', 'o', 'pooler'] as const).flatMap((n) => [
      tensor(`${n}_w`, T.FLOAT, [hidden, hidden], weights[n].w),
      tensor(`${n}_b`, T.FLOAT, [hidden], weights[n].b),
    ]),
    tensor('classifier_w', T.FLOAT, [hidden, labels], weights.classifier.w),
    tensor('classifier_b', T.FLOAT, [labels], weights.classifier.b),
    tensor('zero', T.INT64, [], BigInt64Array.of(0n)),
    tensor('one', T.INT64, [], BigInt64Array.of(1n)),
    tensor('axis_one', T.INT64, [1], BigInt64Array.of(1n)),
    tensor('one_f', T.FLOAT, [], Float32Array.of(1)),
    tensor('masked', T.FLOAT, [], Float32Array.of(MASKED)),
    tensor('scale', T.FLOAT, [], Float32Array.of(1 / Math.sqrt(hidden))),
  ];
  const dense = (x: string, n: string, out: string) => [
    node('MatMul', [x, `${n}_w`], [`${out}_mm`]),
    node('Add', [`${out}_mm`, `${n}_b`], [out]),
  ];
  const nodes = [
    node('Gather', ['word_embeddings', 'input_ids'], ['word']),
    node('Shape', ['input_ids'], ['ids_shape']),
    node('Gather', ['ids_shape', 'one'], ['sequence_length'], [intAttr('axis', 0)]),
    node('Range', ['zero', 'sequence_length', 'one'], ['positions']),
    node('Gather', ['position_embeddings', 'positions'], ['position']),
    node('Add', ['word', 'position'], ['word_position']),
    ...(tokenTypes
      ? [
          node('Gather', ['token_type_embeddings', 'token_type_ids'], ['token_type']),
          node('Add', ['word_position', 'token_type'], ['embedded']),
        ]
      : [
          node('Gather', ['token_type_embeddings', 'zero'], ['token_type']),
          node('Add', ['word_position', 'token_type'], ['embedded']),
        ]),
    node(
      'LayerNormalization',
      ['embedded', 'ln0_gamma', 'ln0_beta'],
      ['embeddings'],
      [intAttr('axis', -1), floatAttr('epsilon', EPSILON)],
    ),
    ...dense('embeddings', 'q', 'query'),
    ...dense('embeddings', 'k', 'key'),
    ...dense('embeddings', 'v', 'value'),
    node('Transpose', ['key'], ['key_t'], [intsAttr('perm', [0, 2, 1])]),
    node('MatMul', ['query', 'key_t'], ['scores_raw']),
    node('Mul', ['scores_raw', 'scale'], ['scores_scaled']),
    node('Cast', ['attention_mask'], ['mask_f'], [intAttr('to', T.FLOAT)]),
    node('Sub', ['one_f', 'mask_f'], ['mask_inverse']),
    node('Mul', ['mask_inverse', 'masked'], ['mask_bias_2d']),
    node('Unsqueeze', ['mask_bias_2d', 'axis_one'], ['mask_bias']),
    node('Add', ['scores_scaled', 'mask_bias'], ['scores']),
    node('Softmax', ['scores'], ['attention'], [intAttr('axis', -1)]),
    node('MatMul', ['attention', 'value'], ['context']),
    ...dense('context', 'o', 'attended'),
    node('Add', ['attended', 'embeddings'], ['residual']),
    node(
      'LayerNormalization',
      ['residual', 'ln1_gamma', 'ln1_beta'],
      ['last_hidden_state'],
      [intAttr('axis', -1), floatAttr('epsilon', EPSILON)],
    ),
    node('Gather', ['last_hidden_state', 'zero'], ['first_token'], [intAttr('axis', 1)]),
    ...dense('first_token', 'pooler', 'pooled_linear'),
    node('Tanh', ['pooled_linear'], ['pooler_output']),
    ...dense('pooler_output', 'classifier', 'logits'),
  ];
  const inputs = [
    valueInfo('input_ids', T.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', T.INT64, ['batch_size', 'sequence_length']),
    ...(tokenTypes ? [valueInfo('token_type_ids', T.INT64, ['batch_size', 'sequence_length'])] : []),
  ];
  const outputs =
    options.head === 'classifier'
      ? [valueInfo('logits', T.FLOAT, ['batch_size', labels])]
      : [
          valueInfo('last_hidden_state', T.FLOAT, ['batch_size', 'sequence_length', hidden]),
          valueInfo('pooler_output', T.FLOAT, ['batch_size', hidden]),
        ];
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'inferlet-test',
    graph: { name: 'tiny_bert', node: nodes, initializer, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Decodes a model, lets `change` edit its graph, and encodes it again (for exports that do not fit). */
export function rewriteGraph(
  bytes: Uint8Array,
  change: (graph: onnxProto.onnx.IGraphProto) => void,
): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  change(model.graph as onnxProto.onnx.IGraphProto);
  return onnx.ModelProto.encode(model).finish();
}

/** The outputs of {@link referenceForward}, one row per text. */
export interface ReferenceOutputs {
  /** `[batch][token][hidden]` over each text's own tokens (no padding). */
  readonly lastHidden: number[][][];
  readonly pooled: number[][];
  readonly logits: number[][];
}

const row = (a: Float32Array, i: number, width: number) => Array.from(a.subarray(i * width, (i + 1) * width));

function layerNorm(x: number[], gamma: Float32Array, beta: Float32Array): number[] {
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
  return x.map(
    (v, i) => ((v - mean) / Math.sqrt(variance + EPSILON)) * (gamma[i] as number) + (beta[i] as number),
  );
}

function denseOf(x: number[], layer: { w: Float32Array; b: Float32Array }): number[] {
  const outputs = layer.b.length;
  return Array.from({ length: outputs }, (_, j) =>
    x.reduce((s, v, i) => s + v * (layer.w[i * outputs + j] as number), layer.b[j] as number),
  );
}

/**
 * The model's forward pass in plain TypeScript (float64), one text at a time over its own tokens: what a
 * batch of padded texts must give for each of them.
 */
export function referenceForward(
  weights: BertWeights,
  texts: readonly { ids: readonly number[]; typeIds?: readonly number[] }[],
): ReferenceOutputs {
  const h = weights.hidden;
  const lastHidden: number[][][] = [];
  const pooled: number[][] = [];
  const logits: number[][] = [];
  for (const text of texts) {
    const x = text.ids.map((id, t) => {
      const word = row(weights.word, id, h);
      const position = row(weights.position, t, h);
      const type = row(weights.tokenType, text.typeIds?.[t] ?? 0, h);
      return layerNorm(
        word.map((v, i) => v + (position[i] as number) + (type[i] as number)),
        weights.ln0.gamma,
        weights.ln0.beta,
      );
    });
    const q = x.map((r) => denseOf(r, weights.q));
    const k = x.map((r) => denseOf(r, weights.k));
    const v = x.map((r) => denseOf(r, weights.v));
    const out = q.map((qi, i) => {
      const scores = k.map((kj) => qi.reduce((s, a, d) => s + a * (kj[d] as number), 0) / Math.sqrt(h));
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((s, a) => s + a, 0);
      const context = Array.from({ length: h }, (_, d) =>
        e.reduce((s, w, j) => s + (w / sum) * (v[j]?.[d] as number), 0),
      );
      const attended = denseOf(context, weights.o);
      return layerNorm(
        attended.map((a, d) => a + (x[i]?.[d] as number)),
        weights.ln1.gamma,
        weights.ln1.beta,
      );
    });
    const pool = denseOf(out[0] as number[], weights.pooler).map(Math.tanh);
    lastHidden.push(out);
    pooled.push(pool);
    logits.push(denseOf(pool, weights.classifier));
  }
  return { lastHidden, pooled, logits };
}

/** Mean of a text's token vectors, L2-normalised: sentence-transformers' default pooling. */
export function meanPooledNormalised(tokens: readonly number[][]): number[] {
  const h = tokens[0]?.length ?? 0;
  const mean = Array.from(
    { length: h },
    (_, d) => tokens.reduce((s, t) => s + (t[d] as number), 0) / tokens.length,
  );
  const norm = Math.sqrt(mean.reduce((s, v) => s + v * v, 0));
  return mean.map((v) => v / norm);
}

/** A WordPiece `tokenizer.json` as Hugging Face writes it for BERT (lower-casing, [CLS] text [SEP]). */
export function wordPieceTokenizerJson(): Record<string, unknown> {
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const id = (token: string) => WORDPIECE_VOCAB.indexOf(token);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(WORDPIECE_VOCAB.map((token, i) => [token, i])),
    },
  };
}

/** A small BPE `tokenizer.json` (whitespace pre-tokenizer, character vocabulary with a few merges). */
export function bpeTokenizerJson(): Record<string, unknown> {
  const letters = 'abcdefghijklmnopqrstuvwxyz'.split('');
  const merges = ['l o', 'lo w', 'e r', 'n e', 'ne w', 'low er', 'e s', 'es t'];
  const vocab = [
    '<unk>',
    '<s>',
    '</s>',
    '<pad>',
    ...letters,
    'lo',
    'low',
    'er',
    'ne',
    'new',
    'lower',
    'es',
    'est',
  ];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<unk>', '<s>', '</s>', '<pad>'].map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
      },
    },
    decoder: null,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(vocab.map((token, i) => [token, i])),
      merges,
    },
  };
}

/** A small Unigram `tokenizer.json` (SentencePiece style: Metaspace, scored pieces). */
export function unigramTokenizerJson(): Record<string, unknown> {
  const pieces: [string, number][] = [
    ['<unk>', 0],
    ['<pad>', 0],
    ['</s>', 0],
    ['▁', -2],
    ['▁hello', -1],
    ['▁world', -1],
    ['▁he', -3],
    ['llo', -3],
    ['▁wor', -3],
    ['ld', -3],
    ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c): [string, number] => [c, -5]),
  ];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<unk>', '<pad>', '</s>'].map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [],
      special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab: pieces, byte_fallback: false },
  };
}

/** Options of {@link writeBertExport}. */
export interface BertExportOptions extends BertOptions {
  /** Class names of `config.json`'s `id2label`; default `LABEL_0`, ... */
  readonly labelNames?: readonly string[];
  readonly problemType?: 'single_label_classification' | 'multi_label_classification';
  /** Where the graph goes: `model.onnx` (Optimum's default) or `onnx/model.onnx` (the Hub's layout). */
  readonly modelPath?: string;
}

/**
 * Writes a Hugging Face-style export folder of a test model: the graph, `tokenizer.json`,
 * `tokenizer_config.json`, `special_tokens_map.json` and `config.json`.
 *
 * @returns the weights, for {@link referenceForward}.
 */
export async function writeBertExport(dir: string, options: BertExportOptions): Promise<BertWeights> {
  const weights = bertWeights(options);
  const modelPath = options.modelPath ?? 'model.onnx';
  await mkdir(join(dir, modelPath, '..'), { recursive: true });
  await writeFile(join(dir, modelPath), buildBertOnnx(weights, options));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizerJson()));
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      do_lower_case: true,
      model_max_length: weights.maxPositions,
      pad_token: '[PAD]',
      tokenizer_class: 'BertTokenizer',
    }),
  );
  await writeFile(
    join(dir, 'special_tokens_map.json'),
    JSON.stringify({
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      mask_token: '[MASK]',
    }),
  );
  const names = options.labelNames ?? Array.from({ length: weights.labels }, (_, i) => `LABEL_${i}`);
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: [options.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel'],
      model_type: 'bert',
      hidden_size: weights.hidden,
      max_position_embeddings: weights.maxPositions,
      ...(options.head === 'classifier'
        ? {
            id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
            label2id: Object.fromEntries(names.map((n, i) => [n, i])),
          }
        : {}),
      ...(options.problemType ? { problem_type: options.problemType } : {}),
    }),
  );
  return weights;
}
