/**
 * Reading and rewriting ONNX graphs with `onnx-proto`: weights as typed arrays, constants as
 * initializers, and raising an old graph's opset to 13 (per-channel `DequantizeLinear` needs 13; the
 * PP-OCR recogniser and classifier are exported at opset 9).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX tensor element types used here. */
export const DataType = onnx.TensorProto.DataType;

export type Model = onnxProto.onnx.IModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type Node = onnxProto.onnx.INodeProto;
export type Tensor = onnxProto.onnx.ITensorProto;
export type Attribute = onnxProto.onnx.IAttributeProto;

/** Decodes a model file's bytes. */
export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}

/** Encodes a model to a file's bytes. */
export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

/** The model's graph; a model without one is not a model. */
export function graphOf(model: Model): Graph {
  if (!model.graph) throw new Error('the ONNX model has no graph');
  return model.graph;
}

function bytesOf(array: ArrayBufferView): Uint8Array {
  // ONNX raw data is little-endian, as typed arrays are on every platform Node runs on.
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** A tensor holding `data` as raw bytes. */
export function tensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  data: ArrayBufferView,
): Tensor {
  return { name, dataType, dims: [...dims], rawData: bytesOf(data) };
}

/** A node; its name is its first output's, which keeps names unique in graphs where outputs are. */
export function node(opType: string, input: string[], output: string[], attribute: Attribute[] = []): Node {
  return { opType, input, output, name: output[0] ?? opType, attribute };
}

export const intAttribute = (name: string, i: number): Attribute => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});

/** The dims of a tensor as numbers (protobufjs may hand int64 fields over as objects). */
export function dimsOf(t: Tensor): number[] {
  return (t.dims ?? []).map((d) => Number(d));
}

/** A FLOAT tensor's values, whether stored raw or as `float_data`. */
export function floatsOf(t: Tensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name} is not FLOAT`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

/** An INT64 tensor's values as numbers. */
export function int64sOf(t: Tensor): number[] {
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return Array.from(new BigInt64Array(copy.buffer, 0, copy.length / 8), Number);
  }
  return (t.int64Data ?? []).map((v) => Number(v));
}

function attribute(n: Node, name: string): Attribute | undefined {
  return n.attribute?.find((a) => a.name === name);
}

/** The integers of an attribute, or undefined where the node has none. */
export function intsAttribute(n: Node, name: string): number[] | undefined {
  const a = attribute(n, name);
  return a?.ints ? a.ints.map((v) => Number(v)) : undefined;
}

/** A float attribute, or `fallback`. */
export function floatAttribute(n: Node, name: string, fallback: number): number {
  const a = attribute(n, name);
  return a?.f ?? fallback;
}

/**
 * Moves the tensors of `Constant` nodes into the graph's initializers (Paddle exports hold every weight
 * in a `Constant`), so weights are found in one place; the graph computes the same.
 */
export function constantsToInitializers(model: Model): void {
  const graph = graphOf(model);
  const kept: Node[] = [];
  const initializer = [...(graph.initializer ?? [])];
  for (const n of graph.node ?? []) {
    const value = n.opType === 'Constant' && n.attribute?.length === 1 ? attribute(n, 'value')?.t : undefined;
    const output = n.output?.[0];
    if (value && output) initializer.push({ ...value, name: output });
    else kept.push(n);
  }
  graph.node = kept;
  graph.initializer = initializer;
}

/** The default-domain opset version the model imports. */
export function opsetOf(model: Model): number {
  const entry = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  return Number(entry?.version ?? 0);
}

/** Operators whose form changed between the model's opset and 13 in ways {@link raiseOpset} does not rewrite. */
const UNCONVERTED_BELOW_13: Readonly<Record<string, number>> = {
  Pad: 11,
  Upsample: 10,
  Resize: 11,
  Split: 13,
  TopK: 10,
  Dropout: 12,
  ReduceSum: 13,
  Unsqueeze: 13,
};

/**
 * Raises the default-domain opset to 13, rewriting the operators whose attributes became inputs on the
 * way: `Clip` (min/max, opset 11), `Slice` (starts/ends/axes, 10), `Squeeze` (axes, 13). `Softmax`
 * before 13 flattened the axes from `axis` on; a `Softmax` over the last axis (all of PP-OCR's) computes
 * the same, and the quantizer's tests compare every rewritten model's outputs with the original's.
 *
 * @throws where the graph holds an operator whose change this does not rewrite (`Pad` before 11, ...).
 */
export function raiseOpset(model: Model, target = 13): void {
  const from = opsetOf(model);
  if (from >= target) return;
  const graph = graphOf(model);
  const initializer = graph.initializer ?? [];
  let added = 0;
  const constant = (prefix: string, dataType: number, dims: number[], data: ArrayBufferView): string => {
    const name = `${prefix}__opset13_${added++}`;
    initializer.push(tensor(name, dataType, dims, data));
    return name;
  };
  for (const n of graph.node ?? []) {
    const op = n.opType ?? '';
    const changedAt = UNCONVERTED_BELOW_13[op];
    if (changedAt !== undefined && from < changedAt && (op !== 'Unsqueeze' || attribute(n, 'axes'))) {
      throw new Error(`cannot raise opset ${from} to ${target}: ${op} changed at opset ${changedAt}`);
    }
    const input = [...(n.input ?? [])];
    if (op === 'Clip' && from < 11) {
      const min = floatAttribute(n, 'min', -3.4028234663852886e38);
      const max = floatAttribute(n, 'max', 3.4028234663852886e38);
      n.input = [
        input[0] as string,
        constant(`${n.name}_min`, DataType.FLOAT, [], Float32Array.of(min)),
        constant(`${n.name}_max`, DataType.FLOAT, [], Float32Array.of(max)),
      ];
      n.attribute = [];
    } else if (op === 'Slice' && from < 10) {
      const starts = intsAttribute(n, 'starts') ?? [];
      const ends = intsAttribute(n, 'ends') ?? [];
      const axes = intsAttribute(n, 'axes') ?? starts.map((_, i) => i);
      const i64 = (values: number[]) => BigInt64Array.from(values, (v) => BigInt(v));
      n.input = [
        input[0] as string,
        constant(`${n.name}_starts`, DataType.INT64, [starts.length], i64(starts)),
        constant(`${n.name}_ends`, DataType.INT64, [ends.length], i64(ends)),
        constant(`${n.name}_axes`, DataType.INT64, [axes.length], i64(axes)),
      ];
      n.attribute = [];
    } else if (op === 'Squeeze' && from < 13) {
      const axes = intsAttribute(n, 'axes');
      if (axes) {
        n.input = [
          input[0] as string,
          constant(
            `${n.name}_axes`,
            DataType.INT64,
            [axes.length],
            BigInt64Array.from(axes, (v) => BigInt(v)),
          ),
        ];
      }
      n.attribute = [];
    }
  }
  graph.initializer = initializer;
  model.opsetImport = [
    ...(model.opsetImport ?? []).filter((o) => o.domain && o.domain !== 'ai.onnx'),
    { domain: '', version: target },
  ];
}

/** Initializers by name. */
export function initializersByName(graph: Graph): Map<string, Tensor> {
  return new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
}
