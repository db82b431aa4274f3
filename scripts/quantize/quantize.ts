/**
 * A quantizer for ONNX models over `onnx-proto`, three methods:
 *
 * - `dynamic`: int8 weights, activations quantized at run time. Each `MatMul` with a constant weight
 *   becomes `DynamicQuantizeLinear` → `MatMulInteger` (int8 weights, a scale per column) → `Cast` → `Mul`,
 *   each `Conv` becomes `ConvInteger` (uint8 weights centred on 128, a scale per output channel, since
 *   onnxruntime's CPU `ConvInteger` takes one zero point) → `Cast` → `Mul` (→ `Add` for the bias).
 *   onnxruntime fuses the first form into `DynamicQuantizeMatMul`.
 * - `qdq`: static int8 in the QDQ form. Activations entering and leaving `Conv` and `MatMul` get a
 *   `QuantizeLinear` → `DequantizeLinear` pair (uint8, ranges from calibration); weights are int8 per
 *   output channel behind a `DequantizeLinear`, `Conv` biases int32 at the input scale × weight scale.
 *   onnxruntime fuses DQ → Conv → Q into `QLinearConv` when the session is created. Hard-sigmoids and
 *   scalar affines between them are then rewritten to stay in uint8 (`integer-activations.ts`).
 * - `mixed`: `qdq` for the few Convs that do most of the work (`heaviestConvs` in `calibration.ts`), the rest of the
 *   fp32 graph as it is: most of int8's gain on them, float accuracy elsewhere.
 * - `fp16`: weights stored as float16, `Cast` back to float32 in front of their users, so the model is
 *   half the size and computes in float32 (onnxruntime folds the casts when the session is created).
 *
 * Node placement follows onnxruntime's Python tool (onnxruntime/python/tools/quantization): QDQ pairs on
 * the tensors around the quantized operators, weights per channel on axis 0 for `Conv` and axis 1 for a
 * `MatMul` weight, biases at scale x_scale × w_scale with zero point 0, dynamic quantization of `MatMul`
 * through `DynamicQuantizeLinear` and integer products scaled back by `Mul`. The ranges `qdq` needs come
 * from `calibration.ts`.
 */
import { toFloat16Bits } from '../../functions/core/float16.ts';
import { integerActivations } from './integer-activations.ts';
import {
  type Attribute,
  constantsToInitializers,
  DataType,
  decodeModel,
  dimsOf,
  encodeModel,
  floatsOf,
  graphOf,
  initializersByName,
  intAttribute,
  type Model,
  type Node,
  node,
  raiseOpset,
  type Tensor,
  tensor,
} from './onnx-graph.ts';

/** The quantization methods, by the names `npm run quantize` takes. */
export const METHODS = ['dynamic', 'qdq', 'mixed', 'fp16'] as const;
export type QuantizationMethod = (typeof METHODS)[number];

/** Range of an activation tensor seen during calibration. */
export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

/** Weights smaller than this many elements stay float32: scales would cost more than they save. */
const MIN_WEIGHT_ELEMENTS = 64;

function clone(model: Model): Model {
  return decodeModel(encodeModel(model));
}

/** The model prepared for rewriting: constants as initializers, opset 13. */
export function prepared(bytes: Uint8Array): Model {
  const model = decodeModel(bytes);
  constantsToInitializers(model);
  raiseOpset(model, 13);
  return model;
}

/** Float weights of a node input, when it is a float initializer large enough to quantize. */
function weightOf(inits: Map<string, Tensor>, name: string | undefined): Tensor | undefined {
  const t = name === undefined ? undefined : inits.get(name);
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  return dimsOf(t).reduce((a, b) => a * b, 1) >= MIN_WEIGHT_ELEMENTS ? t : undefined;
}

/** Nodes the quantizer rewrites: `Conv` with a 4-D constant weight, `MatMul` with a 2-D constant weight. */
export function quantizable(n: Node, inits: Map<string, Tensor>): Tensor | undefined {
  const w = weightOf(inits, n.input?.[1]);
  if (!w) return undefined;
  if (n.opType === 'Conv' && dimsOf(w).length === 4) return w;
  if (n.opType === 'MatMul' && dimsOf(w).length === 2 && !inits.has(n.input?.[0] ?? '')) return w;
  return undefined;
}

/**
 * Symmetric per-channel int8 scales of a weight: `axis` 0 for a Conv's output channels, 1 for a MatMul's
 * columns. A channel of zeros gets scale 1 (any value quantizes it exactly).
 */
function channelScales(values: Float32Array, dims: number[], axis: 0 | 1): Float32Array {
  const channels = dims[axis] as number;
  const scales = new Float32Array(channels);
  const inner = axis === 0 ? values.length / channels : 1;
  const stride = axis === 0 ? 1 : channels;
  for (let i = 0; i < values.length; i++) {
    const c = axis === 0 ? Math.floor(i / inner) : i % stride;
    scales[c] = Math.max(scales[c] as number, Math.abs(values[i] as number));
  }
  for (let c = 0; c < channels; c++) scales[c] = (scales[c] as number) > 0 ? (scales[c] as number) / 127 : 1;
  return scales;
}

function quantizeWeights(
  values: Float32Array,
  dims: number[],
  axis: 0 | 1,
  scales: Float32Array,
  offset: number,
): Int32Array {
  const channels = dims[axis] as number;
  const inner = axis === 0 ? values.length / channels : 1;
  const q = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = axis === 0 ? Math.floor(i / inner) : i % channels;
    const v = Math.round((values[i] as number) / (scales[c] as number));
    q[i] = Math.max(-127, Math.min(127, v)) + offset;
  }
  return q;
}

/** Per-channel scales shaped to broadcast over a Conv output `[N, M, H, W]`. */
const convScaleDims = (channels: number) => [1, channels, 1, 1];

/** Dynamic int8 quantization: see the module's description. */
export function quantizeDynamic(bytes: Uint8Array): Uint8Array {
  const model = prepared(bytes);
  const graph = graphOf(model);
  const inits = initializersByName(graph);
  const initializer = [...(graph.initializer ?? [])];
  const used = new Set<string>();
  const nodes: Node[] = [];
  const dynamic = new Map<string, [string, string, string]>();
  const quantizedInput = (name: string): [string, string, string] => {
    let q = dynamic.get(name);
    if (!q) {
      q = [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`];
      nodes.push(node('DynamicQuantizeLinear', [name], q));
      dynamic.set(name, q);
    }
    return q;
  };
  for (const n of graph.node ?? []) {
    const w = quantizable(n, inits);
    const x = n.input?.[0];
    const y = n.output?.[0];
    if (!w || !x || !y || !w.name) {
      nodes.push(n);
      continue;
    }
    used.add(w.name);
    const dims = dimsOf(w);
    const values = floatsOf(w);
    const [xq, xScale, xZero] = quantizedInput(x);
    const base = `${y}_dynamic`;
    if (n.opType === 'MatMul') {
      const scales = channelScales(values, dims, 1);
      const q = quantizeWeights(values, dims, 1, scales, 0);
      initializer.push(
        tensor(`${base}_w`, DataType.INT8, dims, Int8Array.from(q)),
        tensor(`${base}_w_zero_point`, DataType.INT8, [dims[1] as number], new Int8Array(dims[1] as number)),
        tensor(`${base}_w_scale`, DataType.FLOAT, [dims[1] as number], scales),
      );
      nodes.push(
        node('MatMulInteger', [xq, `${base}_w`, xZero, `${base}_w_zero_point`], [`${base}_int32`]),
        node('Cast', [`${base}_int32`], [`${base}_float`], [intAttribute('to', DataType.FLOAT)]),
        node('Mul', [xScale, `${base}_w_scale`], [`${base}_scale`]),
        node('Mul', [`${base}_float`, `${base}_scale`], [y]),
      );
      continue;
    }
    const channels = dims[0] as number;
    const scales = channelScales(values, dims, 0);
    const q = quantizeWeights(values, dims, 0, scales, 128);
    initializer.push(
      tensor(`${base}_w`, DataType.UINT8, dims, Uint8Array.from(q)),
      tensor(`${base}_w_zero_point`, DataType.UINT8, [], Uint8Array.of(128)),
      tensor(`${base}_w_scale`, DataType.FLOAT, convScaleDims(channels), scales),
    );
    const attributes: Attribute[] = (n.attribute ?? []).filter((a) =>
      ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].includes(a.name ?? ''),
    );
    const bias = n.input?.[2];
    const scaled = bias ? `${base}_scaled` : y;
    nodes.push(
      node('ConvInteger', [xq, `${base}_w`, xZero, `${base}_w_zero_point`], [`${base}_int32`], attributes),
      node('Cast', [`${base}_int32`], [`${base}_float`], [intAttribute('to', DataType.FLOAT)]),
      node('Mul', [xScale, `${base}_w_scale`], [`${base}_scale`]),
      node('Mul', [`${base}_float`, `${base}_scale`], [scaled]),
    );
    if (bias) {
      const b = inits.get(bias);
      if (!b) throw new Error(`Conv ${n.name} has a bias ${bias} that is not a constant`);
      initializer.push(tensor(`${base}_bias`, DataType.FLOAT, convScaleDims(channels), floatsOf(b)));
      nodes.push(node('Add', [scaled, `${base}_bias`], [y]));
    }
  }
  graph.node = nodes;
  graph.initializer = dropUnused(initializer, nodes, graph);
  return encodeModel(model);
}

/** Initializers no node and no graph output reads any more (replaced weights) are dropped. */
function dropUnused(initializer: Tensor[], nodes: Node[], graph: Model['graph']): Tensor[] {
  const read = new Set<string>(nodes.flatMap((n) => n.input ?? []));
  for (const o of graph?.output ?? []) read.add(o.name ?? '');
  return initializer.filter((t) => read.has(t.name ?? ''));
}

/** The activation tensors the QDQ method quantizes: inputs and outputs of the operators it rewrites. */
export function qdqActivations(bytes: Uint8Array): string[] {
  const model = prepared(bytes);
  const graph = graphOf(model);
  const inits = initializersByName(graph);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const names = new Set<string>();
  for (const n of graph.node ?? []) {
    if (!quantizable(n, inits)) continue;
    names.add(n.input?.[0] as string);
    const y = n.output?.[0] as string;
    if (!outputs.has(y)) names.add(y);
  }
  return [...names];
}

/** What {@link quantizeQdq} leaves in float. */
export interface QdqOptions {
  /** Operators left float, by their first output's name. */
  readonly exclude?: readonly string[];
  /** Where given, the only operators quantized, by their first output's name (the `mixed` method). */
  readonly include?: readonly string[];
  /** Every operator after the graph's last node of this type is left float. */
  readonly floatAfterLast?: string;
  /** Whether hard-sigmoids and scalar affines are rewritten to stay in uint8 (default true). */
  readonly integerActivations?: boolean;
}

/** uint8 scale and zero point of a range (which always holds 0, so 0 is exact). */
function activationParameters(range: TensorRange): { scale: number; zeroPoint: number } {
  const min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  const scale = max > min ? (max - min) / 255 : 1;
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-min / scale))) };
}

/**
 * Static QDQ int8 quantization: see the module's description.
 *
 * @param ranges the activations' ranges from {@link calibrate} over {@link qdqActivations}; an activation
 *   without a range leaves its operator in float.
 */
export function quantizeQdq(
  bytes: Uint8Array,
  ranges: ReadonlyMap<string, TensorRange>,
  options: QdqOptions = {},
): Uint8Array {
  const model = prepared(bytes);
  const graph = graphOf(model);
  const inits = initializersByName(graph);
  const exclude = new Set(options.exclude ?? []);
  if (options.include) {
    const include = new Set(options.include);
    for (const n of graph.node ?? []) if (!include.has(n.output?.[0] ?? '')) exclude.add(n.output?.[0] ?? '');
  }
  if (options.floatAfterLast) {
    // The operators after the last node of that type (e.g. a detector's head after its feature
    // pyramid's Concat) stay float: their outputs are thresholded, so small errors move boxes.
    const nodes = graph.node ?? [];
    const last = nodes.map((n) => n.opType).lastIndexOf(options.floatAfterLast);
    for (const n of nodes.slice(last + 1)) exclude.add(n.output?.[0] ?? '');
  }
  const initializer = [...(graph.initializer ?? [])];
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  const quantized = new Set<string>();
  for (const n of graph.node ?? []) {
    const x = n.input?.[0] as string;
    if (quantizable(n, inits) && ranges.has(x) && !exclude.has(n.output?.[0] ?? '')) {
      quantized.add(x);
      const y = n.output?.[0] as string;
      if (!outputs.has(y) && ranges.has(y)) quantized.add(y);
    }
  }
  for (const name of quantized) params.set(name, activationParameters(ranges.get(name) as TensorRange));
  const dq = (name: string) => `${name}_dequantized`;
  const qdqPair = (name: string): Node[] => {
    const p = params.get(name) as { scale: number; zeroPoint: number };
    initializer.push(
      tensor(`${name}_scale`, DataType.FLOAT, [], Float32Array.of(p.scale)),
      tensor(`${name}_zero_point`, DataType.UINT8, [], Uint8Array.of(p.zeroPoint)),
    );
    return [
      node('QuantizeLinear', [name, `${name}_scale`, `${name}_zero_point`], [`${name}_quantized`]),
      node('DequantizeLinear', [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`], [dq(name)]),
    ];
  };
  const nodes: Node[] = [];
  for (const input of graph.input ?? [])
    if (quantized.has(input.name ?? '')) nodes.push(...qdqPair(input.name ?? ''));
  for (const n of graph.node ?? []) {
    // Every reader of a quantized tensor reads its dequantized copy, as in onnxruntime's QDQ models.
    n.input = (n.input ?? []).map((i) => (quantized.has(i) ? dq(i) : i));
    const w = exclude.has(n.output?.[0] ?? '') ? undefined : quantizable(n, inits);
    const x = (n.input[0] ?? '').replace(/_dequantized$/, '');
    if (w?.name && quantized.has(x)) {
      const dims = dimsOf(w);
      const axis = n.opType === 'Conv' ? 0 : 1;
      const values = floatsOf(w);
      const scales = channelScales(values, dims, axis);
      const q = quantizeWeights(values, dims, axis, scales, 0);
      const base = `${n.output?.[0]}_qdq`;
      const channels = dims[axis] as number;
      initializer.push(
        tensor(`${base}_w`, DataType.INT8, dims, Int8Array.from(q)),
        tensor(`${base}_w_scale`, DataType.FLOAT, [channels], scales),
        tensor(`${base}_w_zero_point`, DataType.INT8, [channels], new Int8Array(channels)),
      );
      nodes.push(
        node(
          'DequantizeLinear',
          [`${base}_w`, `${base}_w_scale`, `${base}_w_zero_point`],
          [`${base}_w_dequantized`],
          [intAttribute('axis', axis)],
        ),
      );
      n.input[1] = `${base}_w_dequantized`;
      const bias = n.opType === 'Conv' ? inits.get(n.input[2] ?? '') : undefined;
      if (bias) {
        const inputScale = (params.get(x) as { scale: number }).scale;
        const b = floatsOf(bias);
        const biasScales = scales.map((s) => s * inputScale);
        const qb = Int32Array.from(b, (v, c) => Math.round(v / (biasScales[c] as number)));
        initializer.push(
          tensor(`${base}_b`, DataType.INT32, [channels], qb),
          tensor(`${base}_b_scale`, DataType.FLOAT, [channels], biasScales),
          tensor(`${base}_b_zero_point`, DataType.INT32, [channels], new Int32Array(channels)),
        );
        nodes.push(
          node(
            'DequantizeLinear',
            [`${base}_b`, `${base}_b_scale`, `${base}_b_zero_point`],
            [`${base}_b_dequantized`],
            [intAttribute('axis', 0)],
          ),
        );
        n.input[2] = `${base}_b_dequantized`;
      }
    }
    nodes.push(n);
    for (const y of n.output ?? []) if (quantized.has(y)) nodes.push(...qdqPair(y));
  }
  graph.node = nodes;
  graph.initializer = dropUnused(initializer, nodes, graph);
  if (options.integerActivations !== false) integerActivations(graph);
  return encodeModel(model);
}

/** fp16 weights with fp32 compute: see the module's description. Needs no opset change. */
export function convertFp16(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  constantsToInitializers(model);
  const graph = graphOf(model);
  const casts: Node[] = [];
  graph.initializer = (graph.initializer ?? []).map((t) => {
    const count = dimsOf(t).reduce((a, b) => a * b, 1);
    if (t.dataType !== DataType.FLOAT || count < MIN_WEIGHT_ELEMENTS || !t.name) return t;
    const bits = Uint16Array.from(floatsOf(t), toFloat16Bits);
    casts.push(node('Cast', [`${t.name}_fp16`], [t.name], [intAttribute('to', DataType.FLOAT)]));
    return tensor(`${t.name}_fp16`, DataType.FLOAT16, dimsOf(t), bits);
  });
  graph.node = [...casts, ...(graph.node ?? [])];
  return encodeModel(model);
}

/** The model with its constants as initializers and opset 13: the float32 baseline of the rewritten ones. */
export function normalizedFp32(bytes: Uint8Array): Uint8Array {
  return encodeModel(clone(prepared(bytes)));
}
