/**
 * Calibration for the `qdq` method of `quantize.ts`: runs the model over real inputs with onnxruntime and
 * records the range of each activation the method quantizes.
 */
import * as ort from 'onnxruntime-node';
import { DataType, dimsOf, encodeModel, graphOf, initializersByName, type Tensor } from './onnx-graph.ts';
import { prepared, quantizable, type TensorRange } from './quantize.ts';

/**
 * Runs the model over calibration inputs and records each named tensor's range.
 *
 * @param feeds one input map per calibration run (e.g. the tensors the OCR pipeline feeds the model
 *   while reading rendered documents).
 */
export async function calibrate(
  bytes: Uint8Array,
  tensors: readonly string[],
  feeds: readonly Record<string, ort.Tensor>[],
): Promise<Map<string, TensorRange>> {
  const model = prepared(bytes);
  const graph = graphOf(model);
  const existing = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''));
  for (const name of tensors) {
    if (existing.has(name) || inputs.has(name)) continue;
    graph.output = [...(graph.output ?? []), { name, type: { tensorType: { elemType: DataType.FLOAT } } }];
  }
  const session = await ort.InferenceSession.create(encodeModel(model), {
    graphOptimizationLevel: 'disabled',
    logSeverityLevel: 4,
  });
  const ranges = new Map<string, { min: number; max: number }>();
  const widen = (name: string, data: Float32Array) => {
    const r = ranges.get(name) ?? { min: 0, max: 0 };
    for (const v of data) {
      if (v < r.min) r.min = v;
      else if (v > r.max) r.max = v;
    }
    ranges.set(name, r);
  };
  try {
    for (const feed of feeds) {
      const out = await session.run(
        feed,
        tensors.filter((t) => !inputs.has(t)),
      );
      for (const name of tensors) {
        const t = inputs.has(name) ? feed[name] : out[name];
        if (t) widen(name, t.data as Float32Array);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/**
 * The Convs that each do at least `share` of the model's Conv multiply-adds on `feed` (output elements ×
 * input channels per group × kernel area, the output shapes from one run with every Conv output fetched),
 * by their output's name: what the `mixed` method quantizes. In the PP-OCRv4 detector the two 3×3 Convs at
 * a quarter of the input's resolution (its feature pyramid's last and its head's first) do ~30 % of the work.
 */
export async function heaviestConvs(
  bytes: Uint8Array,
  feed: Record<string, ort.Tensor>,
  share = 0.1,
): Promise<string[]> {
  const model = prepared(bytes);
  const graph = graphOf(model);
  const inits = initializersByName(graph);
  const convs = (graph.node ?? []).filter((n) => n.opType === 'Conv' && quantizable(n, inits));
  const names = convs.map((n) => n.output?.[0] as string);
  const existing = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  for (const name of names) {
    if (!existing.has(name)) {
      graph.output = [...(graph.output ?? []), { name, type: { tensorType: { elemType: DataType.FLOAT } } }];
    }
  }
  const session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 4 });
  try {
    const out = await session.run(feed, names);
    const work = convs.map((n, i) => {
      const kernel = dimsOf(inits.get(n.input?.[1] ?? '') as Tensor).slice(1);
      const elements = (out[names[i] as string]?.data.length ?? 0) as number;
      return elements * kernel.reduce((a, b) => a * b, 1);
    });
    const total = work.reduce((a, b) => a + b, 0);
    return names.filter((_, i) => (work[i] as number) >= share * total);
  } finally {
    await session.release();
  }
}
