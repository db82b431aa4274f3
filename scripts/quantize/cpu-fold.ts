/**
 * The CPU form of a graph: the element-wise chains that Paddle's exporter writes around each convolution
 * folded away, so onnxruntime's CPU provider runs convolutions with their activation fused instead of five
 * to seven separate passes over each activation map.
 *
 * PP-LCNetV3 (the PP-OCRv4 detector's and recogniser's backbone) follows every Conv with a learnable
 * affine (`Mul` by a scalar, `Add` a scalar), a hard-swish exported as `Add 3 → Clip 0..6 → Mul x → Div 6`,
 * and another scalar affine; MobileNetV3 (the classifier) has the hard-swishes. On the 2-core build
 * machine those element-wise nodes and the layout reorders they force took 45 % of the recogniser's time.
 * Folded, a `session.run` costs 0.67–0.75x on the recogniser, 0.78x on the detector and 0.66x on the
 * classifier (a one-off measurement of 2026-11-27, `npm run quantize` prints the current figures), with
 * outputs equal to the original's within float rounding (the tests hold them to 1e-4).
 *
 * Three rewrites, each exact in real arithmetic:
 * - `Conv → Mul(s) [→ Add(t)]`: weights × s, bias × s + t.
 * - `x · Clip(x + 3, 0, 6) / 6` (hard-swish): `x · HardSigmoid(x; α = 1/6, β = 1/2)`, which the CPU
 *   provider computes in one pass and fuses into the preceding Conv.
 * - `Mul(s) [→ Add(t)] → Conv`: weights × s, bias + t · Σ weights of each output channel. Where the Conv pads
 *   its input, the padding would see t rather than 0, so a nonzero t is folded only into unpadded Convs.
 * - Before a padded Conv, `Mul(s) → Add(t)` becomes one 1×1 depthwise Conv (weights s, bias t): one pass
 *   that stays in the CPU provider's blocked layout (0.92–0.95x the time of the graph with the two nodes;
 *   an explicit `Pad` with the value −t/s, which would let the Conv take the affine, measured 1.01–1.11x).
 */
import {
  type Attribute,
  constantsToInitializers,
  DataType,
  decodeModel,
  dimsOf,
  encodeModel,
  floatAttribute,
  floatsOf,
  type Graph,
  graphOf,
  initializersByName,
  intAttribute,
  intsAttribute,
  type Model,
  type Node,
  type Tensor,
  tensor,
} from './onnx-graph.ts';

/** What {@link foldForCpu} may rewrite. */
export interface CpuFoldOptions {
  /**
   * Whether an affine before a padded Conv becomes a 1×1 depthwise Conv (default true). Not for a graph
   * that is to be quantized: among int8 Convs, which onnxruntime runs channels-last, a float Conv costs a
   * layout change on each side (the folded recogniser's static int8 ran 0.99x fp32's time with them, 0.83x
   * with `Mul` and `Add` left).
   */
  readonly affineAsDepthwise?: boolean;
}

/** What {@link foldForCpu} rewrote. */
export interface CpuFoldReport {
  /** Scalar affines after a Conv folded into its weights and bias. */
  readonly convOutputAffine: number;
  /** Hard-swish chains rewritten as `x · HardSigmoid(x)`. */
  readonly hardSwish: number;
  /** Scalar affines before a Conv folded into its weights and bias. */
  readonly convInputAffine: number;
  /** Scalar affines before a padded Conv (which cannot take them) written as one 1×1 depthwise Conv. */
  readonly affineAsDepthwise: number;
}

const floatAttr = (name: string, f: number): Attribute => ({ name, type: 1, f });

/** The graph's nodes indexed by the tensors they produce and read. */
class Links {
  readonly consumers = new Map<string, Node[]>();
  private readonly outputs: Set<string>;

  constructor(graph: Graph, nodes: readonly Node[]) {
    this.outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    for (const n of nodes) {
      for (const i of n.input ?? []) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    }
  }

  /** Whether the graph returns `tensor`. */
  isOutput(tensorName: string): boolean {
    return this.outputs.has(tensorName);
  }

  /** The one node reading `tensor`, where exactly one does and the tensor is not a graph output. */
  soleConsumer(tensorName: string | undefined | null, opType: string): Node | undefined {
    if (!tensorName || this.outputs.has(tensorName)) return undefined;
    const readers = this.consumers.get(tensorName) ?? [];
    return readers.length === 1 && readers[0]?.opType === opType ? readers[0] : undefined;
  }
}

/** Whether a Conv pads its input (explicit pads or an auto_pad other than VALID). */
function padded(conv: Node): boolean {
  const autoPad = conv.attribute?.find((a) => a.name === 'auto_pad')?.s;
  const autoPadding = autoPad && !['NOTSET', 'VALID'].includes(new TextDecoder().decode(autoPad));
  return Boolean(autoPadding) || (intsAttribute(conv, 'pads') ?? []).some((p) => p !== 0);
}

/** Weights and bias of Convs as they are rewritten, written back as new initializers at the end. */
class ConvWeights {
  private readonly changed = new Map<Node, { weight: Float32Array; dims: number[]; bias: Float32Array }>();

  constructor(private readonly initializers: Map<string, Tensor>) {}

  /** Whether `conv`'s weight (and bias, if any) are float initializers this can rewrite. */
  foldable(conv: Node): boolean {
    const [, w, b] = conv.input ?? [];
    const weight = w ? this.initializers.get(w) : undefined;
    const bias = b ? this.initializers.get(b) : undefined;
    return weight?.dataType === DataType.FLOAT && (!b || bias?.dataType === DataType.FLOAT);
  }

  of(conv: Node): { weight: Float32Array; dims: number[]; bias: Float32Array } {
    const known = this.changed.get(conv);
    if (known) return known;
    const [, w, b] = conv.input ?? [];
    const weightTensor = this.initializers.get(w ?? '') as Tensor;
    const dims = dimsOf(weightTensor);
    const weight = Float32Array.from(floatsOf(weightTensor));
    const bias = b
      ? Float32Array.from(floatsOf(this.initializers.get(b) as Tensor))
      : new Float32Array(dims[0] ?? 0);
    const entry = { weight, dims, bias };
    this.changed.set(conv, entry);
    return entry;
  }

  /** y = s · conv(x) + t. */
  scaleOutput(conv: Node, s: number, t: number): void {
    const w = this.of(conv);
    for (let i = 0; i < w.weight.length; i++) w.weight[i] = (w.weight[i] as number) * s;
    for (let o = 0; o < w.bias.length; o++) w.bias[o] = (w.bias[o] as number) * s + t;
  }

  /** conv(s · x + t), for a Conv that does not pad its input (or t = 0). */
  scaleInput(conv: Node, s: number, t: number): void {
    const w = this.of(conv);
    const perOutput = w.weight.length / w.bias.length;
    for (let o = 0; o < w.bias.length; o++) {
      let sum = 0;
      for (let k = o * perOutput; k < (o + 1) * perOutput; k++) {
        sum += w.weight[k] as number;
        w.weight[k] = (w.weight[k] as number) * s;
      }
      w.bias[o] = (w.bias[o] as number) + t * sum;
    }
  }

  /** Writes each rewritten Conv's weight and bias as initializers named after its output. */
  writeInto(graph: Graph): void {
    for (const [conv, { weight, dims, bias }] of this.changed) {
      const name = conv.name || conv.output?.[0] || 'conv';
      const w = `${name}__cpu_fold_w`;
      const b = `${name}__cpu_fold_b`;
      graph.initializer = [
        ...(graph.initializer ?? []),
        tensor(w, DataType.FLOAT, dims, weight),
        tensor(b, DataType.FLOAT, [bias.length], bias),
      ];
      conv.input = [conv.input?.[0] as string, w, b];
    }
  }
}

/**
 * Folds, in place, the scalar affines and hard-swish chains around the graph's Convs (see the module's
 * comment). `Constant` nodes become initializers first. Returns what was rewritten; a graph without
 * these patterns is left as it was, apart from its constants.
 */
export function foldForCpu(model: Model, options: CpuFoldOptions = {}): CpuFoldReport {
  constantsToInitializers(model);
  const graph = graphOf(model);
  const initializers = initializersByName(graph);
  const scalar = (name: string | undefined | null): number | undefined => {
    const t = name ? initializers.get(name) : undefined;
    // Rank 0 or 1 only: a one-element tensor of higher rank would also raise the rank of what it multiplies.
    if (t?.dataType !== DataType.FLOAT || dimsOf(t).length > 1) return undefined;
    const values = floatsOf(t);
    return values.length === 1 ? values[0] : undefined;
  };
  /** For a binary node with one scalar input: the other input and the scalar. */
  const withScalar = (n: Node): { x: string; value: number } | undefined => {
    const [a, b] = n.input ?? [];
    if (!a || !b) return undefined;
    const sb = scalar(b);
    if (sb !== undefined && scalar(a) === undefined) return { x: a, value: sb };
    const sa = scalar(a);
    if (sa !== undefined && sb === undefined) return { x: b, value: sa };
    return undefined;
  };
  const weights = new ConvWeights(initializers);
  let nodes = [...(graph.node ?? [])];
  const removed = new Set<Node>();
  const report = { convOutputAffine: 0, hardSwish: 0, convInputAffine: 0, affineAsDepthwise: 0 };

  // Conv → Mul(s) [→ Add(t)]: the Conv writes the affine's output.
  let links = new Links(graph, nodes);
  for (const conv of nodes) {
    if (conv.opType !== 'Conv' || !weights.foldable(conv)) continue;
    const mul = links.soleConsumer(conv.output?.[0], 'Mul');
    const scale = mul && withScalar(mul);
    if (!mul || !scale || scale.x !== conv.output?.[0]) continue;
    const add = links.soleConsumer(mul.output?.[0], 'Add');
    const shift = add && withScalar(add);
    const last = shift ? (add as Node) : mul;
    weights.scaleOutput(conv, scale.value, shift?.value ?? 0);
    removed.add(mul);
    if (shift) removed.add(add as Node);
    conv.output = [last.output?.[0] as string];
    report.convOutputAffine++;
  }
  nodes = nodes.filter((n) => !removed.has(n));

  // x · Clip(x + 3, 0, 6) / 6 → x · HardSigmoid(x).
  links = new Links(graph, nodes);
  for (const add of nodes) {
    const plus = add.opType === 'Add' ? withScalar(add) : undefined;
    if (plus?.value !== 3) continue;
    const clip = links.soleConsumer(add.output?.[0], 'Clip');
    if (!clip) continue;
    const [, minName, maxName] = clip.input ?? [];
    const min = minName ? scalar(minName) : floatAttribute(clip, 'min', Number.NaN);
    const max = maxName ? scalar(maxName) : floatAttribute(clip, 'max', Number.NaN);
    if (min !== 0 || max !== 6) continue;
    const mul = links.soleConsumer(clip.output?.[0], 'Mul');
    if (!mul || !(mul.input ?? []).includes(plus.x) || !(mul.input ?? []).includes(clip.output?.[0] ?? '')) {
      continue;
    }
    const div = links.soleConsumer(mul.output?.[0], 'Div');
    if (!div || div.input?.[0] !== mul.output?.[0] || scalar(div.input?.[1]) !== 6) continue;
    const gate = `${div.output?.[0]}__hard_sigmoid`;
    Object.assign(add, {
      opType: 'HardSigmoid',
      input: [plus.x],
      output: [gate],
      attribute: [floatAttr('alpha', 1 / 6), floatAttr('beta', 0.5)],
    });
    mul.input = [plus.x, gate];
    mul.output = [div.output?.[0] as string];
    removed.add(clip);
    removed.add(div);
    report.hardSwish++;
  }
  nodes = nodes.filter((n) => !removed.has(n));

  // Mul(s) [→ Add(t)] → Conv: the Conv reads the affine's input.
  links = new Links(graph, nodes);
  for (const mul of nodes) {
    const scale = mul.opType === 'Mul' ? withScalar(mul) : undefined;
    if (!scale) continue;
    const add = links.soleConsumer(mul.output?.[0], 'Add');
    const shift = add && withScalar(add);
    const last = shift ? (add as Node) : mul;
    const out = last.output?.[0] as string;
    const readers = links.consumers.get(out) ?? [];
    // Read by several Convs (a stage's output feeding the next stage and a feature pyramid): folded into
    // none, and where one pads, kept as a 1×1 depthwise Conv, as for one padded reader below.
    const severalConvs =
      readers.length > 1 &&
      !links.isOutput(out) &&
      readers.every((r) => r.opType === 'Conv' && r.input?.[0] === out && weights.foldable(r));
    const conv = severalConvs ? readers.find(padded) : links.soleConsumer(out, 'Conv');
    if (!conv || conv.input?.[0] !== out || !weights.foldable(conv)) continue;
    if (severalConvs || ((shift?.value ?? 0) !== 0 && padded(conv))) {
      if (options.affineAsDepthwise === false) continue;
      // The padding would see t: the affine stays, as a 1×1 depthwise Conv (one pass, in the CPU's blocked
      // layout, where `Mul` and `Add` by a scalar each left it and came back).
      const dims = dimsOf(initializers.get(conv.input?.[1] ?? '') as Tensor);
      const group = Number(conv.attribute?.find((a) => a.name === 'group')?.i ?? 1);
      const channels = (dims[1] ?? 0) * group;
      const w = `${out}__cpu_fold_affine_w`;
      const b = `${out}__cpu_fold_affine_b`;
      const scaleT = tensor(
        w,
        DataType.FLOAT,
        [channels, 1, 1, 1],
        new Float32Array(channels).fill(scale.value),
      );
      const shiftT = tensor(
        b,
        DataType.FLOAT,
        [channels],
        new Float32Array(channels).fill(shift?.value ?? 0),
      );
      graph.initializer = [...(graph.initializer ?? []), scaleT, shiftT];
      Object.assign(mul, {
        opType: 'Conv',
        input: [scale.x, w, b],
        output: [out],
        attribute: [intAttribute('group', channels), { name: 'kernel_shape', type: 7, ints: [1, 1] }],
      });
      removed.add(add as Node);
      report.affineAsDepthwise++;
      continue;
    }
    weights.scaleInput(conv, scale.value, shift?.value ?? 0);
    (conv.input as string[])[0] = scale.x;
    removed.add(mul);
    if (shift) removed.add(add as Node);
    report.convInputAffine++;
  }
  nodes = nodes.filter((n) => !removed.has(n));

  graph.node = nodes;
  weights.writeInto(graph);
  const used = new Set([...nodes.flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name)]);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  return report;
}

/** {@link foldForCpu} over a model file's bytes. */
export function cpuFoldedOf(
  bytes: Uint8Array,
  options: CpuFoldOptions = {},
): { bytes: Uint8Array; report: CpuFoldReport } {
  const model = decodeModel(bytes);
  const report = foldForCpu(model, options);
  return { bytes: encodeModel(model), report };
}

/** Whether the report counts any rewrite. */
export function folded(report: CpuFoldReport): boolean {
  return report.convOutputAffine + report.hardSwish + report.convInputAffine + report.affineAsDepthwise > 0;
}
