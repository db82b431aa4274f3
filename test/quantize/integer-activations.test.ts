import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionOptions } from '../../functions/core/session.ts';
import { calibrate } from '../../scripts/quantize/calibration.ts';
import { integerActivations } from '../../scripts/quantize/integer-activations.ts';
import {
  DataType,
  decodeModel,
  encodeModel,
  type Model,
  node,
  tensor,
} from '../../scripts/quantize/onnx-graph.ts';
import { qdqActivations, quantizeQdq } from '../../scripts/quantize/quantize.ts';
import { floatValue, values } from '../support/onnx-graphs.ts';

const conv = (input: string, weight: string, bias: string, output: string, group = 1) =>
  node(
    'Conv',
    [input, weight, bias],
    [output],
    [
      { name: 'kernel_shape', type: 7, ints: [3, 3] },
      { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
      { name: 'group', type: 2, i: group },
    ],
  );

/**
 * One PP-LCNetV3 step as the CPU fold leaves it for quantization: Conv → hard-swish as x · HardSigmoid(x)
 * → learnable affine (scalar Mul, scalar Add) → a padded depthwise Conv.
 */
function lcnetStep(shift: number): Uint8Array {
  const scalar = (name: string, v: number) => tensor(name, DataType.FLOAT, [1], Float32Array.of(v));
  const model: Model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'lcnet-step',
      initializer: [
        tensor('w1', DataType.FLOAT, [8, 4, 3, 3], values(8 * 36, 1, -0.5, 0.5)),
        tensor('b1', DataType.FLOAT, [8], values(8, 2)),
        tensor('w2', DataType.FLOAT, [8, 1, 3, 3], values(8 * 9, 3, -0.5, 0.5)),
        tensor('b2', DataType.FLOAT, [8], values(8, 4)),
        scalar('scale', 0.7),
        scalar('shift', shift),
      ],
      node: [
        conv('x', 'w1', 'b1', 'c'),
        node(
          'HardSigmoid',
          ['c'],
          ['gate'],
          [
            { name: 'alpha', type: 1, f: 1 / 6 },
            { name: 'beta', type: 1, f: 0.5 },
          ],
        ),
        node('Mul', ['c', 'gate'], ['hswish']),
        node('Mul', ['scale', 'hswish'], ['scaled']),
        node('Add', ['scaled', 'shift'], ['affine']),
        conv('affine', 'w2', 'b2', 'y', 8),
      ],
      input: [floatValue('x', ['N', 4, 8, 8])],
      output: [floatValue('y', ['N', 8, 8, 8])],
    },
  };
  return encodeModel(model);
}

async function run(bytes: Uint8Array, x: ort.Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    return (await session.run({ x }))[session.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The operators onnxruntime's CPU provider runs for a model, after its graph optimisations. */
async function optimizedOps(bytes: Uint8Array): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'inferlet-optimized-'));
  dirs.push(dir);
  const optimizedModelFilePath = join(dir, 'optimized.onnx');
  const session = await ort.InferenceSession.create(bytes, {
    ...sessionOptions({ intraOpThreads: 1 }, 'cpu'),
    optimizedModelFilePath,
  });
  await session.release();
  const graph = decodeModel(new Uint8Array(await readFile(optimizedModelFilePath))).graph;
  return (graph?.node ?? []).map((n) => n.opType ?? '');
}

const ops = (bytes: Uint8Array) => (decodeModel(bytes).graph?.node ?? []).map((n) => n.opType);

describe('QDQ graphs keep hard-swish and scalar affines in uint8', () => {
  const x = new ort.Tensor('float32', values(2 * 4 * 8 * 8, 5, -2, 2), [2, 4, 8, 8]);

  it.each([0.2, -0.3])(
    'with an affine shift of %f: onnxruntime runs QLinearAdd and QLinearMul, no float HardSigmoid, Mul or Add, within 3% of fp32',
    async (shift) => {
      const bytes = lcnetStep(shift);
      const ranges = await calibrate(bytes, qdqActivations(bytes), [{ x }]);

      const quantized = quantizeQdq(bytes, ranges);

      expect(ops(quantized)).not.toContain('HardSigmoid');
      const runtime = await optimizedOps(quantized);
      expect(runtime).toEqual(expect.arrayContaining(['QLinearConv', 'QLinearAdd', 'QLinearMul']));
      for (const float of ['HardSigmoid', 'Mul', 'Add']) expect(runtime).not.toContain(float);
      const [expected, actual] = await Promise.all([run(bytes, x), run(quantized, x)]);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < expected.length; i++) {
        diff = Math.max(diff, Math.abs((actual[i] as number) - (expected[i] as number)));
        scale = Math.max(scale, Math.abs(expected[i] as number));
      }
      expect(diff / scale).toBeLessThan(0.03);
    },
  );

  it('reports what it rewrote and leaves a HardSigmoid on a float input alone', () => {
    const model = decodeModel(lcnetStep(0.2));
    const graph = model.graph as NonNullable<Model['graph']>;

    const report = integerActivations(graph);

    expect(report).toEqual({ hardSigmoids: 0, affines: 0 });
    expect(ops(encodeModel(model))).toContain('HardSigmoid');
  });
});

describe('the recogniser int8 variant of the model repository', async () => {
  const dir = 'models/ppocr-v4-rec';
  const { readdir } = await import('node:fs/promises');
  const version = (await readdir(dir)).sort((a, b) => Number(b) - Number(a))[0] as string;
  const bytes = new Uint8Array(await readFile(join(dir, version, 'model-int8-qdq.onnx')));

  it('runs on the CPU provider with its hard-swishes and affines in uint8: no float HardSigmoid, at most 12 float Mul', async () => {
    const runtime = await optimizedOps(bytes);

    expect(runtime).not.toContain('HardSigmoid');
    expect(runtime.filter((op) => op === 'QLinearMul').length).toBeGreaterThanOrEqual(25);
    expect(runtime.filter((op) => op === 'QLinearAdd').length).toBeGreaterThanOrEqual(28);
    // What stays float: the squeeze-excitation gates and the SVTR neck's Swish and LayerNorm.
    expect(runtime.filter((op) => op === 'Mul').length).toBeLessThanOrEqual(12);
  });
});
