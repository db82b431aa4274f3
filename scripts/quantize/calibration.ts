/**
 * Calibration for the `qdq` method of `quantize.ts`: runs the model over real inputs with onnxruntime and
 * records the range of each activation the method quantizes.
 */
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, graphOf } from './onnx-graph.ts';
import { prepared, type TensorRange } from './quantize.ts';

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
