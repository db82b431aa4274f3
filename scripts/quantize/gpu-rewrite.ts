/**
 * The GPU variant of a graph: nodes that onnxruntime's WebGPU provider has no kernel for, rewritten into
 * operators it runs. A node without a kernel runs on the CPU with a copy out and back around it; the
 * PP-OCR recogniser's 28 and the classifier's 18 opset-9 `Clip` nodes made them 7–12x slower on an H100
 * than on 16 CPU threads (../shared/FACTS.md, "GPU machines"). Rewritten, the recogniser ran 1.5–4.5x
 * faster than the CPU from batch 6 up. On the CPU provider the rewrite is 1.3–1.7x slower (the CPU fuses
 * Conv+Clip, not Conv+Max+Min), so it is a variant of its own, never a replacement of the fp32 file.
 */
import {
  DataType,
  decodeModel,
  encodeModel,
  floatAttribute,
  graphOf,
  type Model,
  type Node,
  opsetOf,
  tensor,
} from './onnx-graph.ts';

/** The largest float32: opset-9 `Clip`'s default bounds are ±this. */
const FLOAT_MAX = 3.4028234663852886e38;

/** What {@link rewriteForGpu} changed, by operator rewritten. */
export interface GpuRewriteReport {
  /** Opset-9 `Clip` nodes (min/max attributes) rewritten as `Max` then `Min`. */
  readonly clip: number;
}

/**
 * Whether `node` is a `Clip` with its bounds as attributes: opset < 11, where WebGPU has no kernel for
 * it (from opset 11 the bounds are inputs and the kernel exists).
 */
export function isAttributeClip(model: Model, node: Node): boolean {
  return node.opType === 'Clip' && (!node.domain || node.domain === 'ai.onnx') && opsetOf(model) < 11;
}

/**
 * Rewrites, in place, every opset-9 `Clip(x; min, max)` as `Min(Max(x, min), max)` over scalar float32
 * initializers (a bound left at its default is not applied). The graph computes the same values: `Max`
 * and `Min` with a scalar are exact, as `Clip` is. The models this serves clip float32 activations only;
 * a `Clip` whose input the graph declares as another type is refused rather than given float bounds.
 *
 * @throws where a `Clip`'s input is declared with an element type other than float32.
 */
export function rewriteForGpu(model: Model): GpuRewriteReport {
  const graph = graphOf(model);
  const declared = new Map(
    [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])].map((v) => [
      v.name ?? '',
      v.type?.tensorType?.elemType,
    ]),
  );
  const initializer = [...(graph.initializer ?? [])];
  const nodes: Node[] = [];
  let clip = 0;
  for (const n of graph.node ?? []) {
    if (!isAttributeClip(model, n)) {
      nodes.push(n);
      continue;
    }
    const [x] = n.input ?? [];
    const [y] = n.output ?? [];
    if (!x || !y) throw new Error(`Clip node ${n.name} lacks an input or an output`);
    const type = declared.get(x);
    if (type !== undefined && type !== null && type !== DataType.FLOAT) {
      throw new Error(`Clip node ${n.name} clips a tensor of element type ${type}, not float32`);
    }
    const id = `${n.name || y}__gpu${clip++}`;
    const min = floatAttribute(n, 'min', -FLOAT_MAX);
    const max = floatAttribute(n, 'max', FLOAT_MAX);
    let current = x;
    const steps: [string, number][] = [];
    if (min > -FLOAT_MAX) steps.push(['Max', min]);
    if (max < FLOAT_MAX) steps.push(['Min', max]);
    if (steps.length === 0) {
      nodes.push({ opType: 'Identity', name: id, input: [x], output: [y] });
      continue;
    }
    for (const [index, [op, bound]] of steps.entries()) {
      const boundName = `${id}_${op.toLowerCase()}_bound`;
      initializer.push(tensor(boundName, DataType.FLOAT, [], Float32Array.of(bound)));
      const out = index === steps.length - 1 ? y : `${id}_${op.toLowerCase()}`;
      nodes.push({
        opType: op,
        name: `${id}_${op.toLowerCase()}`,
        input: [current, boundName],
        output: [out],
      });
      current = out;
    }
  }
  graph.node = nodes;
  graph.initializer = initializer;
  return { clip };
}

/** The GPU variant of a model file's bytes, with what was rewritten. */
export function gpuVariantOf(bytes: Uint8Array): { bytes: Uint8Array; report: GpuRewriteReport } {
  const model = decodeModel(bytes);
  const report = rewriteForGpu(model);
  return { bytes: encodeModel(model), report };
}

/** How many nodes of the model have no WebGPU kernel by the rules above (0 after {@link rewriteForGpu}). */
export function countGpuUnsupported(bytes: Uint8Array): number {
  const model = decodeModel(bytes);
  return (graphOf(model).node ?? []).filter((n) => isAttributeClip(model, n)).length;
}
