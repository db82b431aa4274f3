/**
 * Rewrites of a QDQ graph that let onnxruntime's CPU provider keep activations in uint8 between its
 * quantized operators, where the graph would otherwise dequantize, compute in float and quantize again.
 * PP-LCNetV3 (the PP-OCRv4 backbones) follows every Conv with a hard-swish and a learnable scalar affine;
 * in a plain QDQ graph those ran in float between `QLinearConv`s and took ~45 % of the recogniser's run.
 *
 * - `HardSigmoid(x; α, β)` reading a `DequantizeLinear` becomes `Add(x, β/α)` → `QuantizeLinear(scale
 *   1/(255α), zero point 0)` → `DequantizeLinear(scale 1/255, zero point 0)`: the saturation of the uint8
 *   `QuantizeLinear` is the clip to [0, 1]. onnxruntime fuses the `Add` into `QLinearAdd` and the
 *   hard-swish's `Mul` that reads both into `QLinearMul`. Exact up to the 1/255 step of the output.
 * - A scalar affine `v · a + b` (a > 0) in front of a `QuantizeLinear` (scale s, zero point z) is absorbed
 *   into it: `QuantizeLinear(v; s/a, z + round(b/s))` yields the uint8 values of `a·v + b` within one step,
 *   and the `DequantizeLinear` after it still reads them with (s, z). Padding stays right: a Conv reading
 *   them pads with z, which is 0 of `a·v + b`, as in the float graph.
 */
import {
  DataType,
  floatAttribute,
  floatsOf,
  type Graph,
  initializersByName,
  type Node,
  node,
  type Tensor,
  tensor,
} from './onnx-graph.ts';

/** What {@link integerActivations} rewrote. */
export interface IntegerActivationsReport {
  /** `HardSigmoid`s now computed by a quantized `Add` and the saturation of a `QuantizeLinear`. */
  readonly hardSigmoids: number;
  /** Scalar affines absorbed into the `QuantizeLinear` after them. */
  readonly affines: number;
}

/** The value of a one-element float initializer. */
function scalarOf(inits: ReadonlyMap<string, Tensor>, name: string | undefined): number | undefined {
  const t = name === undefined ? undefined : inits.get(name);
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  const values = floatsOf(t);
  return values.length === 1 ? values[0] : undefined;
}

/** The uint8 value of a scalar zero point initializer. */
function uint8Of(inits: ReadonlyMap<string, Tensor>, name: string | undefined): number | undefined {
  const t = name === undefined ? undefined : inits.get(name);
  if (!t || t.dataType !== DataType.UINT8) return undefined;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData[0] : t.int32Data?.[0];
  return raw ?? 0;
}

/**
 * Applies both rewrites of the module's description to a QDQ graph, in place.
 */
export function integerActivations(graph: Graph): IntegerActivationsReport {
  const initializer = [...(graph.initializer ?? [])];
  const inits = initializersByName(graph);
  const producer = new Map<string, Node>();
  const readers = new Map<string, number>();
  for (const n of graph.node ?? []) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) readers.set(i, (readers.get(i) ?? 0) + 1);
  }
  for (const o of graph.output ?? []) readers.set(o.name ?? '', (readers.get(o.name ?? '') ?? 0) + 1);
  const only = (name: string | undefined) => name !== undefined && readers.get(name) === 1;
  const dequantized = (name: string | undefined) =>
    name !== undefined && producer.get(name)?.opType === 'DequantizeLinear';

  const nodes: Node[] = [];
  let hardSigmoids = 0;
  for (const n of graph.node ?? []) {
    const x = n.input?.[0];
    const y = n.output?.[0];
    const alpha = floatAttribute(n, 'alpha', 0.2);
    const beta = floatAttribute(n, 'beta', 0.5);
    if (n.opType !== 'HardSigmoid' || !dequantized(x) || !y || !(alpha > 0)) {
      nodes.push(n);
      continue;
    }
    const base = `${y}__uint8`;
    // The shift is a dequantized uint8 too (onnxruntime fuses an Add only when both inputs are): 255 steps
    // of |shift|/255 on the side of its sign.
    const shift = beta / alpha;
    initializer.push(
      tensor(`${base}_shift_quantized`, DataType.UINT8, [], Uint8Array.of(shift >= 0 ? 255 : 0)),
      tensor(`${base}_shift_scale`, DataType.FLOAT, [], Float32Array.of(Math.abs(shift) / 255 || 1)),
      tensor(`${base}_shift_zero_point`, DataType.UINT8, [], Uint8Array.of(shift >= 0 ? 0 : 255)),
      tensor(`${base}_scale`, DataType.FLOAT, [], Float32Array.of(1 / (255 * alpha))),
      tensor(`${base}_unit`, DataType.FLOAT, [], Float32Array.of(1 / 255)),
      tensor(`${base}_zero_point`, DataType.UINT8, [], Uint8Array.of(0)),
    );
    nodes.push(
      node(
        'DequantizeLinear',
        [`${base}_shift_quantized`, `${base}_shift_scale`, `${base}_shift_zero_point`],
        [`${base}_shift`],
      ),
      node('Add', [x as string, `${base}_shift`], [`${base}_shifted`]),
      node(
        'QuantizeLinear',
        [`${base}_shifted`, `${base}_scale`, `${base}_zero_point`],
        [`${base}_quantized`],
      ),
      node('DequantizeLinear', [`${base}_quantized`, `${base}_unit`, `${base}_zero_point`], [y]),
    );
    hardSigmoids++;
  }

  const absorbed = new Set<Node>();
  let affines = 0;
  for (const q of nodes) {
    if (q.opType !== 'QuantizeLinear') continue;
    const [input, scaleName, zeroName] = q.input ?? [];
    const s = scalarOf(inits, scaleName);
    const z = uint8Of(inits, zeroName);
    if (s === undefined || z === undefined || !only(input)) continue;
    // Walk back over an Add of a scalar, then a Mul by a scalar (either may be missing).
    let a = 1;
    let b = 0;
    let v = input as string;
    const chain: Node[] = [];
    const add = producer.get(v);
    if (add?.opType === 'Add') {
      const k = (add.input ?? []).findIndex((i) => scalarOf(inits, i) !== undefined);
      const shift = scalarOf(inits, add.input?.[k]);
      const other = add.input?.[1 - k];
      if (k >= 0 && shift !== undefined && other !== undefined && (add.input?.length ?? 0) === 2) {
        b = shift;
        v = other;
        chain.push(add);
      }
    }
    const mul = producer.get(v);
    if (mul?.opType === 'Mul' && (chain.length === 0 || only(v))) {
      const k = (mul.input ?? []).findIndex((i) => scalarOf(inits, i) !== undefined);
      const factor = scalarOf(inits, mul.input?.[k]);
      const other = mul.input?.[1 - k];
      if (k >= 0 && factor !== undefined && factor > 0 && other !== undefined) {
        a = factor;
        v = other;
        chain.push(mul);
      }
    }
    const zeroPoint = z + Math.round(b / s);
    if (chain.length === 0 || zeroPoint < 0 || zeroPoint > 255) continue;
    const base = `${q.output?.[0]}__absorbed`;
    initializer.push(
      tensor(`${base}_scale`, DataType.FLOAT, [], Float32Array.of(s / a)),
      tensor(`${base}_zero_point`, DataType.UINT8, [], Uint8Array.of(zeroPoint)),
    );
    q.input = [v, `${base}_scale`, `${base}_zero_point`];
    for (const c of chain) absorbed.add(c);
    affines++;
  }
  graph.node = nodes.filter((n) => !absorbed.has(n));
  graph.initializer = initializer;
  return { hardSigmoids, affines };
}
