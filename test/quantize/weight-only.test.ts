import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import {
  DataType,
  decodeModel,
  encodeModel,
  type Graph,
  type Model,
  type Node,
  node,
} from '../../scripts/quantize/onnx-graph.ts';
import { quantizeWeightsOnly } from '../../scripts/quantize/weight-only.ts';
import { constant, values } from '../support/onnx-graphs.ts';
import { sileroRepository } from '../support/silero-model.ts';
import { compose, SCRIPTS, wavOf } from '../support/spoken-audio.ts';

const valueInfo = (name: string, elemType: number, dims: number[]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
});

/**
 * Silero's shape in small: the weights in `Constant` nodes inside the branches of an `If` on a flag
 * input, one branch a Conv with a bias, the other a MatMul reading a weight of the outer graph.
 */
function branchedNetwork(): Uint8Array {
  const branch = (name: string, nodes: Node[]): Graph => ({
    name,
    node: nodes,
    output: [valueInfo(`${name}_y`, DataType.FLOAT, [1, 64, 10])],
  });
  const conv = branch('conv', [
    constant('conv_w', [64, 8, 3], values(64 * 8 * 3, 1)),
    constant('conv_b', [64], values(64, 2)),
    node('Conv', ['x', 'conv_w', 'conv_b'], ['conv_y'], [{ name: 'pads', type: 7, ints: [1, 1] }]),
  ]);
  const matmul = branch('matmul', [
    node('Transpose', ['x'], ['xt'], [{ name: 'perm', type: 7, ints: [0, 2, 1] }]),
    node('MatMul', ['xt', 'outer_w'], ['mm']),
    node('Transpose', ['mm'], ['matmul_y'], [{ name: 'perm', type: 7, ints: [0, 2, 1] }]),
  ]);
  const model: Model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 16 }],
    graph: {
      name: 'branched',
      node: [
        // 512 elements: too small to quantize, left float.
        constant('small_w', [8, 64], values(512, 3)),
        // A weight of the outer graph that the MatMul branch reads, sliced and added to on the way, as
        // Silero's LSTM weights are.
        constant('outer_w_big', [8, 512], values(4096, 4)),
        node('Slice', ['outer_w_big', 'starts', 'ends', 'axes'], ['outer_w_part']),
        node('Add', ['outer_w_part', 'small_w'], ['outer_w']),
        constant('starts', [1], BigInt64Array.of(0n), DataType.INT64),
        constant('ends', [1], BigInt64Array.of(64n), DataType.INT64),
        constant('axes', [1], BigInt64Array.of(1n), DataType.INT64),
        node(
          'If',
          ['flag'],
          ['y'],
          [
            { name: 'then_branch', type: 5, g: conv },
            { name: 'else_branch', type: 5, g: matmul },
          ],
        ),
      ],
      input: [valueInfo('x', DataType.FLOAT, [1, 8, 10]), valueInfo('flag', DataType.BOOL, [])],
      output: [valueInfo('y', DataType.FLOAT, [1, 64, 10])],
    },
  };
  // Constants must come before their readers: move the Slice's inputs up.
  const graph = model.graph as Graph;
  const nodes = graph.node as Node[];
  graph.node = [
    ...nodes.filter((n) => n.opType === 'Constant'),
    ...nodes.filter((n) => n.opType !== 'Constant'),
  ];
  return encodeModel(model);
}

async function run(bytes: Uint8Array, flag: boolean, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const out = await session.run({
    x: new ort.Tensor('float32', x, [1, 8, 10]),
    flag: new ort.Tensor('bool', Uint8Array.of(flag ? 1 : 0), []),
  });
  return out.y?.data as Float32Array;
}

/** Every weight tensor in the graph and its subgraphs, by name, with its type. */
function weightTypes(bytes: Uint8Array): Map<string, number> {
  const types = new Map<string, number>();
  const walk = (graph: Graph) => {
    for (const n of graph.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t && n.opType === 'Constant') types.set(n.output?.[0] ?? '', a.t.dataType ?? 0);
        if (a.g) walk(a.g);
      }
    }
  };
  walk(decodeModel(bytes).graph as Graph);
  return types;
}

describe('weight-only int8', () => {
  it('stores large weights in every subgraph as int8 and computes within 1 % of fp32', async () => {
    const fp32 = branchedNetwork();
    const x = values(80, 9);

    const { bytes, report } = quantizeWeightsOnly(fp32);

    const types = weightTypes(bytes);
    expect(types.get('conv_w__int8_q')).toBe(DataType.INT8);
    expect(types.get('outer_w_big__int8_q')).toBe(DataType.INT8);
    // Small weights and the 1-D bias stay float.
    expect(types.get('small_w')).toBe(DataType.FLOAT);
    expect(types.get('conv_b')).toBe(DataType.FLOAT);
    expect(report).toEqual({ tensors: 2, elements: 1536 + 4096 });
    for (const flag of [true, false]) {
      const want = await run(fp32, flag, x);
      const got = await run(bytes, flag, x);
      const scale = Math.max(...Array.from(want, Math.abs));
      const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - (want[i] as number))));
      expect(worst / scale).toBeLessThan(0.01);
    }
  });

  it('makes the Silero VAD file at most a third of fp32, finding the same sentences at 8 and 16 kHz', async () => {
    const repo = await sileroRepository();
    try {
      const fp32 = await readFile(join(repo.repository, 'silero-vad/1/model.onnx'));
      const int8 = await readFile(join(repo.repository, 'silero-vad/1/model_int8.onnx'));
      const [reference, quantized, spoken] = await Promise.all([
        repo.vad('fp32'),
        repo.vad('int8'),
        compose(SCRIPTS['three-sentences']),
      ]);

      expect(int8.byteLength).toBeLessThan(fp32.byteLength / 3);
      expect(Buffer.from(int8).equals(Buffer.from(quantizeWeightsOnly(fp32).bytes))).toBe(true);
      for (const rate of [8000, 16000]) {
        const want = await reference.detect((await decodeAudio(wavOf(spoken, { rate }))).samples);
        const got = await quantized.detect((await decodeAudio(wavOf(spoken, { rate }))).samples);
        expect(got.modelSampleRate).toBe(rate);
        expect(got.segments).toHaveLength(spoken.truth.length);
        expect(want.segments).toHaveLength(spoken.truth.length);
        got.segments.forEach((segment, i) => {
          const ref = want.segments[i] as { start: number; end: number };
          expect(Math.abs(segment.start - ref.start)).toBeLessThanOrEqual(0.1);
          expect(Math.abs(segment.end - ref.end)).toBeLessThanOrEqual(0.1);
        });
      }
    } finally {
      await repo.remove();
    }
  });
});
