/**
 * The ONNX form of the fastText-style classifier, written and read with `onnx-proto`.
 *
 * An `EmbeddingBag` in standard operators (opset 16), so a batch of texts of any lengths is one session run
 * with no padding at all. Inputs, as PyTorch's `EmbeddingBag` takes them:
 * - `ids` int64 [T]: the feature ids of every text of the batch, one text after the other;
 * - `offsets` int64 [N]: where each text starts in `ids` (`offsets[0] = 0`, non-decreasing, at most T).
 * Text `i` is `ids[offsets[i] .. offsets[i+1])` (the last one runs to T); an empty text gets the bias.
 *
 * ```
 * embedding [B,D] ─ MatMul(weight [D,C]) ─ class table [B,C]     (constants: folded when the session loads)
 * ids ─ Gather(class table) ─ Cast(f64) ─ CumSum ─ prefix sums ─ Gather(ends) − Gather(offsets) ─ Cast(f32)
 *     ─ Div(max(length, 1)) ─ Add(bias) ─ logits ─ Softmax ─ probabilities
 * ```
 *
 * This is `mean(E[ids]) · W + b` exactly rearranged (the mean and the linear layer commute), so each id
 * gathers C numbers instead of D and padding never exists. The int8 variant stores the embedding (per-row
 * float16 scales) and the weight (per-class scales) as INT8 initializers and dequantizes them in the graph
 * (`Cast * scale`); onnxruntime folds that, with the MatMul, into the same [B, C] table once per session.
 */
import onnxProto from 'onnx-proto';
import { dequantizeWeights, type FastTextWeights, type QuantizedFastTextWeights } from './fasttext-model.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** Names of the graph's input and outputs. */
export const FASTTEXT_IO = {
  ids: 'ids',
  offsets: 'offsets',
  probabilities: 'probabilities',
  logits: 'logits',
} as const;

const OPSET = 16;

function bytesOf(array: ArrayBufferView): Uint8Array {
  // ONNX raw data is little-endian, as typed arrays are on every platform Node runs on.
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function tensor(
  name: string,
  dataType: number,
  dims: number[],
  data: ArrayBufferView,
): onnxProto.onnx.ITensorProto {
  return { name, dataType, dims, rawData: bytesOf(data) };
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attributes: onnxProto.onnx.IAttributeProto[] = [],
): onnxProto.onnx.INodeProto {
  return { opType, input, output, name: output[0] ?? opType, attribute: attributes };
}

const intAttribute = (name: string, i: number): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});

function valueInfo(
  name: string,
  elemType: number,
  dims: (number | string)[],
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Options of {@link buildFastTextOnnx}. */
export interface FastTextOnnxOptions {
  /** Class labels, in output order; stored as model metadata too. */
  readonly labels: readonly string[];
  /** Free text for the model's doc string. */
  readonly description?: string;
}

/**
 * Serialises a classifier as an ONNX model: float32 weights, or int8 weights dequantized in the graph.
 *
 * @example
 * ```ts
 * await writeFile('model.onnx', buildFastTextOnnx(weights, { labels: ['ham', 'spam'] }));
 * await writeFile('model-int8.onnx', buildFastTextOnnx(quantizeWeights(weights), { labels: ['ham', 'spam'] }));
 * ```
 */
export function buildFastTextOnnx(
  weights: FastTextWeights | QuantizedFastTextWeights,
  options: FastTextOnnxOptions,
): Uint8Array {
  const { buckets, dim, classes } = weights;
  if (options.labels.length !== classes) {
    throw new Error(`${options.labels.length} labels for a model of ${classes} classes`);
  }
  const initializer: onnxProto.onnx.ITensorProto[] = [
    tensor('bias', T.FLOAT, [classes], weights.bias),
    tensor('zero_i64', T.INT64, [1], BigInt64Array.of(0n)),
    tensor('one_i64', T.INT64, [1], BigInt64Array.of(1n)),
    tensor('end_of_axis', T.INT64, [1], BigInt64Array.of(BigInt(Number.MAX_SAFE_INTEGER))),
    tensor('zero_row', T.DOUBLE, [1, classes], new Float64Array(classes)),
    tensor('one', T.FLOAT, [], Float32Array.of(1)),
  ];
  const nodes: onnxProto.onnx.INodeProto[] = [];
  if ('embeddingScale' in weights) {
    initializer.push(
      tensor('embedding_quantized', T.INT8, [buckets, dim], weights.embedding),
      tensor('embedding_scale', T.FLOAT16, [buckets, 1], weights.embeddingScale),
      tensor('weight_quantized', T.INT8, [dim, classes], weights.weight),
      tensor('weight_scale', T.FLOAT, [1, classes], weights.weightScale),
    );
    nodes.push(
      node('Cast', ['embedding_quantized'], ['embedding_unscaled'], [intAttribute('to', T.FLOAT)]),
      node('Cast', ['embedding_scale'], ['embedding_row_scale'], [intAttribute('to', T.FLOAT)]),
      node('Mul', ['embedding_unscaled', 'embedding_row_scale'], ['embedding']),
      node('Cast', ['weight_quantized'], ['weight_unscaled'], [intAttribute('to', T.FLOAT)]),
      node('Mul', ['weight_unscaled', 'weight_scale'], ['weight']),
    );
  } else {
    initializer.push(
      tensor('embedding', T.FLOAT, [buckets, dim], weights.embedding),
      tensor('weight', T.FLOAT, [dim, classes], weights.weight),
    );
  }
  nodes.push(
    // mean(E[ids]) · W = mean((E · W)[ids]): the linear layer goes first, on constants only, so onnxruntime
    // folds it into a [B, C] table when the session is created and each id gathers C numbers, not D.
    node('MatMul', ['embedding', 'weight'], ['class_table']),
    node('Gather', ['class_table', 'ids'], ['token_logits'], [intAttribute('axis', 0)]),
    // Per-text sums as differences of running sums, in float64 so that a short text after long ones keeps
    // its precision: sum(text i) = S[end_i] − S[start_i], with S[0] = 0.
    node('Cast', ['token_logits'], ['token_logits_double'], [intAttribute('to', T.DOUBLE)]),
    node('CumSum', ['token_logits_double', 'zero_i64'], ['running_sum']),
    node('Concat', ['zero_row', 'running_sum'], ['prefix_sum'], [intAttribute('axis', 0)]),
    node('Shape', ['ids'], ['id_count']),
    node('Slice', ['offsets', 'one_i64', 'end_of_axis'], ['next_offsets']),
    node('Concat', ['next_offsets', 'id_count'], ['ends'], [intAttribute('axis', 0)]),
    node('Gather', ['prefix_sum', 'ends'], ['sum_to_end'], [intAttribute('axis', 0)]),
    node('Gather', ['prefix_sum', 'offsets'], ['sum_to_start'], [intAttribute('axis', 0)]),
    node('Sub', ['sum_to_end', 'sum_to_start'], ['logit_sum_double']),
    node('Cast', ['logit_sum_double'], ['logit_sum'], [intAttribute('to', T.FLOAT)]),
    // Mean: divided by the text's length (at least 1, so an empty text keeps a zero sum).
    node('Sub', ['ends', 'offsets'], ['lengths']),
    node('Cast', ['lengths'], ['lengths_float'], [intAttribute('to', T.FLOAT)]),
    node('Max', ['lengths_float', 'one'], ['divisor_flat']),
    node('Unsqueeze', ['divisor_flat', 'one_i64'], ['divisor']),
    node('Div', ['logit_sum', 'divisor'], ['mean_logits']),
    node('Add', ['mean_logits', 'bias'], [FASTTEXT_IO.logits]),
    node('Softmax', [FASTTEXT_IO.logits], [FASTTEXT_IO.probabilities], [intAttribute('axis', 1)]),
  );
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'inferlet',
    producerVersion: '1',
    docString: options.description ?? 'fastText-style text classifier',
    metadataProps: [
      { key: 'labels', value: JSON.stringify(options.labels) },
      { key: 'buckets', value: String(buckets) },
    ],
    graph: {
      name: 'fasttext_classifier',
      node: nodes,
      initializer,
      input: [
        valueInfo(FASTTEXT_IO.ids, T.INT64, ['ids']),
        valueInfo(FASTTEXT_IO.offsets, T.INT64, ['batch']),
      ],
      output: [
        valueInfo(FASTTEXT_IO.probabilities, T.FLOAT, ['batch', classes]),
        valueInfo(FASTTEXT_IO.logits, T.FLOAT, ['batch', classes]),
      ],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** A copy of a tensor's raw data into a fresh (aligned) buffer. */
function rawCopy(t: onnxProto.onnx.ITensorProto | undefined, name: string): ArrayBuffer {
  if (!t?.rawData)
    throw new Error(`the model has no raw initializer "${name}"; is it a fastText classifier?`);
  // protobufjs hands out Buffer views into the model's bytes, often unaligned: copy.
  return new Uint8Array(t.rawData).buffer;
}

/**
 * Reads the weights back from a model written by {@link buildFastTextOnnx}: the float weights it computes
 * with (for an int8 model, the dequantized ones, bit for bit as the graph produces them).
 */
export function readFastTextOnnx(bytes: Uint8Array): FastTextWeights {
  const model = onnx.ModelProto.decode(bytes);
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const get = (name: string) => byName.get(name);
  const dims = (name: string) => (get(name)?.dims ?? []).map(Number);
  const bias = new Float32Array(rawCopy(get('bias'), 'bias'));
  if (byName.has('embedding_quantized')) {
    const [buckets = 0, dim = 0] = dims('embedding_quantized');
    return dequantizeWeights({
      buckets,
      dim,
      classes: bias.length,
      embedding: new Int8Array(rawCopy(get('embedding_quantized'), 'embedding_quantized')),
      embeddingScale: new Uint16Array(rawCopy(get('embedding_scale'), 'embedding_scale')),
      weight: new Int8Array(rawCopy(get('weight_quantized'), 'weight_quantized')),
      weightScale: new Float32Array(rawCopy(get('weight_scale'), 'weight_scale')),
      bias,
    });
  }
  const [buckets = 0, dim = 0] = dims('embedding');
  return {
    buckets,
    dim,
    classes: bias.length,
    embedding: new Float32Array(rawCopy(get('embedding'), 'embedding')),
    weight: new Float32Array(rawCopy(get('weight'), 'weight')),
    bias,
  };
}
