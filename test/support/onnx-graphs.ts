/** Helpers of the tests that build ONNX graphs and compare what onnxruntime computes with them. */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { DataType, type Node, node, tensor } from '../../scripts/quantize/onnx-graph.ts';

/** Deterministic values in [lo, hi) (default [-1, 1)), so every run builds the same graph and input. */
export function values(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return lo + (a / 2 ** 32) * (hi - lo);
  });
}

/** A float tensor's value info; a string dim is symbolic. */
export const floatValue = (name: string, dims: readonly (number | string)[]) => ({
  name,
  type: {
    tensorType: {
      elemType: DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
});

/** A `Constant` node holding a tensor, as Paddle's and PyTorch's exporters write weights. */
export const constant = (
  name: string,
  dims: number[],
  data: ArrayBufferView,
  dataType = DataType.FLOAT,
): Node => node('Constant', [], [name], [{ name: 'value', type: 4, t: tensor(name, dataType, dims, data) }]);

/** The first output of a model (file or bytes) on the CPU for a deterministic input of `dims`. */
export async function outputOf(
  model: string | Uint8Array,
  dims: readonly number[],
  seed: number,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model as string, {
    executionProviders: ['cpu'],
    logSeverityLevel: 4,
  });
  const x = new ort.Tensor(
    'float32',
    values(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
    [...dims],
  );
  const out = await session.run({ [session.inputNames[0] as string]: x });
  await session.release();
  return out[session.outputNames[0] as string]?.data as Float32Array;
}

/** The largest absolute difference of two equally long arrays (asserted equally long). */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}
