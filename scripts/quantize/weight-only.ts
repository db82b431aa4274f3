/**
 * Weight-only int8: every large float weight (a `Constant` or initializer of at least 1024 elements and
 * two dims, in the graph and every subgraph) stored as int8 with one scale per row of axis 0, and turned
 * back to float where read (`Cast` and `Mul`, folded by onnxruntime when the session is created); compute
 * and run time stay fp32's. For graphs the activation methods of
 * quantize.ts do not reach: Silero VAD keeps its weights in `Constant` nodes inside `If` branches (one
 * branch per sample rate), its LSTM weights are sliced and re-joined before the LSTM reads them, and an
 * LSTM has no integer kernel in standard ONNX.
 */
import {
  DataType,
  decodeModel,
  dimsOf,
  encodeModel,
  floatsOf,
  type Graph,
  graphOf,
  intAttribute,
  type Node,
  node,
  type Tensor,
  tensor,
} from './onnx-graph.ts';

/** `AttributeProto.AttributeType.TENSOR`. */
const ATTRIBUTE_TENSOR = 4;

/** Weights smaller than this stay float (biases, norms): the scales would cost as much as they save. */
const MIN_ELEMENTS = 1024;

/** What {@link quantizeWeightsOnly} changed. */
export interface WeightOnlyReport {
  /** Weights stored as int8. */
  readonly tensors: number;
  /** Their elements. */
  readonly elements: number;
}

/** Symmetric int8 per channel along `axis`: values, and one scale per channel. */
function quantizePerChannel(
  values: Float32Array,
  dims: readonly number[],
  axis: number,
): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis] as number;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const max = new Float32Array(channels);
  const index = (o: number, c: number, i: number) => (o * channels + c) * inner + i;
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < inner; i++)
        max[c] = Math.max(max[c] as number, Math.abs(values[index(o, c, i)] as number));
  // A channel of zeros keeps scale 1, so that DequantizeLinear never divides nothing by nothing.
  const scales = Float32Array.from(max, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(values.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < inner; i++) {
        const at = index(o, c, i);
        q[at] = Math.max(-127, Math.min(127, Math.round((values[at] as number) / (scales[c] as number))));
      }
  return { q, scales };
}

/** The tensor a `Constant` node holds as `value`, if that is all it holds. */
function constantValue(n: Node): Tensor | undefined {
  if (n.opType !== 'Constant' || n.attribute?.length !== 1) return undefined;
  const [a] = n.attribute;
  return a?.name === 'value' ? (a.t ?? undefined) : undefined;
}

/** Rewrites one graph and, recursively, the graphs of its nodes' attributes (`If`, `Loop`, `Scan`). */
function rewriteGraph(graph: Graph, report: { tensors: number; elements: number }): void {
  const nodes = graph.node ?? [];
  for (const n of nodes)
    for (const a of n.attribute ?? []) {
      if (a.g) rewriteGraph(a.g, report);
      for (const g of a.graphs ?? []) rewriteGraph(g, report);
    }
  const replaced = new Map<Node, Node[]>();
  const weights: { name: string; weight: Tensor; producer?: Node }[] = [];
  for (const n of nodes) {
    const value = constantValue(n);
    const name = n.output?.[0];
    if (value && name) weights.push({ name, weight: value, producer: n });
  }
  for (const t of graph.initializer ?? []) weights.push({ name: t.name ?? '', weight: t });
  const droppedInitializers = new Set<string>();
  const prepended: Node[] = [];
  for (const { name, weight, producer } of weights) {
    if (weight.dataType !== DataType.FLOAT) continue;
    const dims = dimsOf(weight);
    const values = floatsOf(weight);
    if (values.length < MIN_ELEMENTS || dims.length < 2) continue;
    // Axis 0 is the output channel of Conv and MatMul-like weights and the gate row of LSTM weights.
    const { q, scales } = quantizePerChannel(values, dims, 0);
    const base = `${name}__int8`;
    const constant = (t: Tensor): Node => ({
      ...node('Constant', [], [t.name ?? '']),
      attribute: [{ name: 'value', type: ATTRIBUTE_TENSOR, t }],
    });
    // Cast + Mul rather than DequantizeLinear: onnxruntime folds both at session creation (its constant
    // folding leaves DequantizeLinear alone, for QDQ fusion), so runs cost what fp32 runs cost.
    const scaleDims = dims.map((d, i) => (i === 0 ? d : 1));
    const rewritten = [
      constant(tensor(`${base}_q`, DataType.INT8, dims, q)),
      constant(tensor(`${base}_scale`, DataType.FLOAT, scaleDims, scales)),
      node('Cast', [`${base}_q`], [`${base}_float`], [intAttribute('to', DataType.FLOAT)]),
      node('Mul', [`${base}_float`, `${base}_scale`], [name]),
    ];
    if (producer) replaced.set(producer, rewritten);
    else {
      droppedInitializers.add(name);
      prepended.push(...rewritten);
    }
    report.tensors += 1;
    report.elements += values.length;
  }
  if (replaced.size === 0 && prepended.length === 0) return;
  graph.node = [...prepended, ...nodes.flatMap((n) => replaced.get(n) ?? [n])];
  graph.initializer = (graph.initializer ?? []).filter((t) => !droppedInitializers.has(t.name ?? ''));
}
/**
 * Stores the large float weights of a model as int8 per row, in every subgraph, read back through `Cast`
 * and `Mul`.
 *
 * @returns the new model's bytes and what was quantized.
 */
export function quantizeWeightsOnly(bytes: Uint8Array): { bytes: Uint8Array; report: WeightOnlyReport } {
  const model = decodeModel(bytes);
  const report = { tensors: 0, elements: 0 };
  rewriteGraph(graphOf(model), report);
  return { bytes: encodeModel(model), report };
}
