import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../../functions/core/float16.ts';
import {
  dequantizeWeights,
  type FastTextWeights,
  forwardLogits,
  quantizeWeights,
  softmax,
} from '../../functions/text/fasttext-model.ts';
import { buildFastTextOnnx, readFastTextOnnx } from '../../functions/text/fasttext-onnx.ts';
import { seededRandom } from '../../scripts/text/trainer.ts';

/** Weights with a trained-looking spread: roughly normal values. */
function randomWeights(buckets: number, dim: number, classes: number, seed: number): FastTextWeights {
  const random = seededRandom(seed);
  const normal = () => random() + random() + random() - 1.5;
  const embedding = new Float32Array(buckets * dim);
  for (let i = 0; i < buckets * dim; i++) embedding[i] = normal() * 0.3;
  const weight = Float32Array.from({ length: dim * classes }, () => normal() * 2);
  const bias = Float32Array.from({ length: classes }, () => normal());
  return { buckets, dim, classes, embedding, weight, bias };
}

/** Runs a model on texts' ids (flat ids and offsets); returns logits and probabilities per text. */
async function runOnnx(session: ort.InferenceSession, rows: number[][]) {
  const ids = BigInt64Array.from(rows.flat(), BigInt);
  const starts = rows.map((_, i) => rows.slice(0, i).reduce((n, r) => n + r.length, 0));
  const out = await session.run({
    ids: new ort.Tensor('int64', ids, [ids.length]),
    offsets: new ort.Tensor('int64', BigInt64Array.from(starts, BigInt), [rows.length]),
  });
  const logits = out.logits?.data as Float32Array;
  const probabilities = out.probabilities?.data as Float32Array;
  const classes = logits.length / rows.length;
  return rows.map((_, i) => ({
    logits: Array.from(logits.subarray(i * classes, (i + 1) * classes)),
    probabilities: Array.from(probabilities.subarray(i * classes, (i + 1) * classes)),
  }));
}

const BUCKETS = 5000;
const DIM = 32;
const CLASSES = 3;

describe('the ONNX export of the fastText-style classifier', () => {
  const weights = randomWeights(BUCKETS, DIM, CLASSES, 11);
  const labels = ['a', 'b', 'c'];
  const random = seededRandom(5);
  const rows = [
    Array.from({ length: 40 }, () => Math.floor(random() * BUCKETS)),
    [7],
    [],
    Array.from({ length: 900 }, () => Math.floor(random() * BUCKETS)),
    [3, 3, 3, 4],
  ];
  let fp32: ort.InferenceSession;
  let int8: ort.InferenceSession;
  let fp32Bytes: Uint8Array;
  let int8Bytes: Uint8Array;

  beforeAll(async () => {
    fp32Bytes = buildFastTextOnnx(weights, { labels });
    int8Bytes = buildFastTextOnnx(quantizeWeights(weights), { labels });
    fp32 = await ort.InferenceSession.create(fp32Bytes);
    int8 = await ort.InferenceSession.create(int8Bytes);
  });

  it('computes the logits of a plain TypeScript forward pass within 1e-5', async () => {
    const onnx = await runOnnx(fp32, rows);

    for (const [i, row] of rows.entries()) {
      const expected = forwardLogits(weights, row);
      const got = onnx[i]?.logits ?? [];
      for (let c = 0; c < CLASSES; c++)
        expect(Math.abs((got[c] as number) - (expected[c] as number))).toBeLessThan(1e-5);
      const p = softmax(expected);
      for (let c = 0; c < CLASSES; c++) {
        expect(Math.abs((onnx[i]?.probabilities[c] as number) - (p[c] as number))).toBeLessThan(1e-5);
      }
    }
  });

  it('scores a text the same alone and between longer and empty ones in a batch', async () => {
    const short = rows[4] as number[];

    const [alone] = await runOnnx(fp32, [short]);
    const [, within] = await runOnnx(fp32, [rows[3] as number[], short, [], rows[0] as number[]]);

    for (let c = 0; c < CLASSES; c++) {
      expect(Math.abs((within?.logits[c] as number) - (alone?.logits[c] as number))).toBeLessThan(1e-6);
    }
  });

  it('answers a batch of only empty texts with the bias for each', async () => {
    const out = await runOnnx(fp32, [[], []]);

    expect(out.map((r) => r.logits.map((v) => Math.fround(v)))).toEqual([
      Array.from(weights.bias),
      Array.from(weights.bias),
    ]);
  });

  it('gives a text without features the bias as logits', async () => {
    const [empty] = await runOnnx(fp32, [[]]);

    expect(empty?.logits.map((v) => Math.fround(v))).toEqual(Array.from(weights.bias));
  });

  it('computes the int8 model as the dequantized weights do, within 1e-5', async () => {
    const dequantized = dequantizeWeights(quantizeWeights(weights));

    const onnx = await runOnnx(int8, rows);

    for (const [i, row] of rows.entries()) {
      const expected = forwardLogits(dequantized, row);
      for (let c = 0; c < CLASSES; c++) {
        expect(Math.abs((onnx[i]?.logits[c] as number) - (expected[c] as number))).toBeLessThan(1e-5);
      }
    }
  });

  it('keeps the int8 model close to fp32 and at least 3.5 times smaller', async () => {
    const exact = await runOnnx(fp32, rows);

    const quantized = await runOnnx(int8, rows);

    expect(fp32Bytes.byteLength / int8Bytes.byteLength).toBeGreaterThanOrEqual(3.5);
    for (const [i] of rows.entries()) {
      for (let c = 0; c < CLASSES; c++) {
        expect(
          Math.abs((quantized[i]?.probabilities[c] as number) - (exact[i]?.probabilities[c] as number)),
        ).toBeLessThan(0.02);
      }
    }
  });

  it('reads back the weights it wrote, and the dequantized ones from an int8 model', () => {
    const back = readFastTextOnnx(fp32Bytes);
    const backInt8 = readFastTextOnnx(int8Bytes);

    expect(back).toEqual(weights);
    expect(backInt8).toEqual(dequantizeWeights(quantizeWeights(weights)));
  });

  it('rounds to float16 and back as IEEE 754 does', () => {
    const values = [0, 1, -2, 0.1, 65504, 1e-7, 6.1e-5, 3.25];

    const back = values.map((v) => fromFloat16Bits(toFloat16Bits(v)));

    expect(back).toEqual([0, 1, -2, 0.0999755859375, 65504, 1.1920928955078125e-7, 1023 * 2 ** -24, 3.25]);
  });
});
