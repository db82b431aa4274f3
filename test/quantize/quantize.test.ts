import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../functions/image/decode-image.ts';
import { detectionTensor } from '../../functions/image/text-detection.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';
import { calibrate, heaviestConvs } from '../../scripts/quantize/calibration.ts';
import {
  DataType,
  decodeModel,
  encodeModel,
  type Model,
  node,
  raiseOpset,
} from '../../scripts/quantize/onnx-graph.ts';
import {
  convertFp16,
  qdqActivations,
  quantizeDynamic,
  quantizeQdq,
} from '../../scripts/quantize/quantize.ts';
import { constant, floatValue, values } from '../support/onnx-graphs.ts';
import { renderReceipt, renderText } from '../support/render-text.ts';

/**
 * A small network as exporters write them: opset 9, weights in `Constant` nodes, a `Conv` with a bias, an
 * opset-9 `Clip` (min/max attributes), a `Reshape` and a `MatMul` with a constant weight.
 */
function smallNetwork(): Uint8Array {
  const model: Model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 9 }],
    graph: {
      name: 'small',
      node: [
        constant('conv_w', [8, 3, 3, 3], values(8 * 27, 1)),
        constant('conv_b', [8], values(8, 2)),
        constant('fc_w', [8 * 6 * 6, 10], values(288 * 10, 3)),
        constant('shape', [2], BigInt64Array.of(-1n, 288n), DataType.INT64),
        node(
          'Conv',
          ['x', 'conv_w', 'conv_b'],
          ['conv'],
          [
            { name: 'kernel_shape', type: 7, ints: [3, 3] },
            { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
            { name: 'strides', type: 7, ints: [1, 1] },
          ],
        ),
        node(
          'Clip',
          ['conv'],
          ['clipped'],
          [
            { name: 'min', type: 1, f: 0 },
            { name: 'max', type: 1, f: 6 },
          ],
        ),
        node('Reshape', ['clipped', 'shape'], ['flat']),
        node('MatMul', ['flat', 'fc_w'], ['y']),
      ],
      input: [floatValue('x', ['N', 3, 6, 6])],
      output: [floatValue('y', ['N', 10])],
    },
  };
  return encodeModel(model);
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Largest absolute difference, relative to the largest absolute reference value. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return diff / scale;
}

const opTypes = (bytes: Uint8Array) => new Set((decodeModel(bytes).graph?.node ?? []).map((n) => n.opType));

describe('quantizer on a small network built here', () => {
  const bytes = smallNetwork();
  const x = new ort.Tensor('float32', values(2 * 3 * 6 * 6, 4), [2, 3, 6, 6]);

  it('raises an opset-9 graph to 13 and computes exactly the same', async () => {
    const model = decodeModel(bytes);

    raiseOpset(model, 13);

    const [before, after] = await Promise.all([run(bytes, { x }), run(encodeModel(model), { x })]);
    expect(after).toEqual(before);
    expect(model.opsetImport?.[0]?.version).toBe(13);
  });

  it('dynamic: rewrites Conv and MatMul to integer operators within 2% of fp32', async () => {
    const quantized = quantizeDynamic(bytes);

    const [expected, actual] = await Promise.all([run(bytes, { x }), run(quantized, { x })]);
    expect([...opTypes(quantized)]).toEqual(
      expect.arrayContaining(['DynamicQuantizeLinear', 'ConvInteger', 'MatMulInteger']),
    );
    expect([...opTypes(quantized)]).not.toContain('Conv');
    expect(relativeError(actual, expected)).toBeLessThan(0.02);
  });

  it('qdq: wraps Conv and MatMul in QuantizeLinear/DequantizeLinear with per-channel weights, within 3% of fp32', async () => {
    const tensors = qdqActivations(bytes);
    const ranges = await calibrate(bytes, tensors, [{ x }]);

    const quantized = quantizeQdq(bytes, ranges);

    const [expected, actual] = await Promise.all([run(bytes, { x }), run(quantized, { x })]);
    expect(tensors).toEqual(expect.arrayContaining(['x', 'conv', 'flat']));
    const weightDq = (decodeModel(quantized).graph?.node ?? []).filter(
      (n) => n.opType === 'DequantizeLinear' && n.attribute?.some((a) => a.name === 'axis'),
    );
    expect(weightDq.length).toBe(3); // conv weight, conv bias, MatMul weight
    expect([...opTypes(quantized)]).toContain('QuantizeLinear');
    expect(relativeError(actual, expected)).toBeLessThan(0.03);
  });

  it('qdq with include (the mixed method): quantizes only the named operators', async () => {
    const ranges = await calibrate(bytes, qdqActivations(bytes), [{ x }]);

    const quantized = quantizeQdq(bytes, ranges, { include: ['conv'] });

    const weightDq = (decodeModel(quantized).graph?.node ?? []).filter(
      (n) => n.opType === 'DequantizeLinear' && n.attribute?.some((a) => a.name === 'axis'),
    );
    expect(weightDq.map((n) => n.output?.[0])).toEqual(['conv_qdq_w_dequantized', 'conv_qdq_b_dequantized']);
    const matmul = (decodeModel(quantized).graph?.node ?? []).find((n) => n.opType === 'MatMul');
    expect(matmul?.input?.[1]).toBe('fc_w');
    const [expected, actual] = await Promise.all([run(bytes, { x }), run(quantized, { x })]);
    expect(relativeError(actual, expected)).toBeLessThan(0.03);
  });

  it('fp16: stores the weights as float16 and computes in float32 within 0.1% of fp32', async () => {
    const converted = convertFp16(bytes);

    const [expected, actual] = await Promise.all([run(bytes, { x }), run(converted, { x })]);
    const fp16 = (decodeModel(converted).graph?.initializer ?? []).filter(
      (t) => t.dataType === DataType.FLOAT16,
    );
    expect(fp16.map((t) => t.name).sort()).toEqual(['conv_w_fp16', 'fc_w_fp16']);
    expect(actual).toBeInstanceOf(Float32Array);
    expect(relativeError(actual, expected)).toBeLessThan(0.001);
  });

  it('refuses to raise a graph whose operator it cannot rewrite', () => {
    const model = decodeModel(bytes);
    model.graph?.node?.push(node('Pad', ['y'], ['padded']));

    expect(() => raiseOpset(model, 13)).toThrow(/Pad changed at opset 11/);
  });
});

/** A rendered text line as the classifier reads it: 48×192, (v / 255 − 0.5) / 0.5, channels planar. */
async function lineTensorData(text: string, rotate: 0 | 180): Promise<Float32Array> {
  const png = await renderText({
    width: 192,
    height: 48,
    rotate,
    lines: [{ text, x: 4, y: 34, fontSize: 26 }],
  });
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(3 * 48 * 192);
  for (let p = 0; p < 48 * 192; p++) {
    for (let c = 0; c < 3; c++) out[c * 48 * 192 + p] = ((data[p * 3 + c] as number) / 255 - 0.5) / 0.5;
  }
  return out;
}

describe('heaviestConvs', () => {
  it('names the Convs that each do at least the given share of the multiply-adds', async () => {
    // A 3×3 Conv of 8 channels over 16×16 (55 296 multiply-adds) before a 1×1 Conv to 16 (32 768).
    const model: Model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'two-convs',
        node: [
          constant('wa', [8, 3, 3, 3], values(8 * 27, 5)),
          constant('wb', [16, 8, 1, 1], values(128, 6)),
          node('Conv', ['x', 'wa'], ['a'], [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }]),
          node('Conv', ['a', 'wb'], ['b']),
        ],
        input: [floatValue('x', [1, 3, 16, 16])],
        output: [floatValue('b', [1, 16, 16, 16])],
      },
    };
    const bytes = encodeModel(model);
    const feed = { x: new ort.Tensor('float32', values(3 * 256, 7), [1, 3, 16, 16]) };

    expect(await heaviestConvs(bytes, feed, 0.5)).toEqual(['a']);
    expect(await heaviestConvs(bytes, feed, 0.1)).toEqual(['a', 'b']);
  });
});

describe('quantizer on the PP-OCR orientation classifier', async () => {
  const bytes = new Uint8Array(await readFile('models/ppocr-mobile-v2-cls/3/model.onnx'));
  const lines = [
    ['total 31.03', 0],
    ['oat milk 4.90', 180],
    ['corner market', 0],
    ['paid by card', 180],
  ] as const;
  const data = new Float32Array(lines.length * 3 * 48 * 192);
  for (const [i, [text, rotate]] of lines.entries())
    data.set(await lineTensorData(text, rotate), i * 3 * 48 * 192);
  const x = new ort.Tensor('float32', data, [lines.length, 3, 48, 192]);

  // Outputs are the probabilities of 0° and 180°: an absolute tolerance on values in [0, 1].
  it.each([
    ['dynamic', 0.05],
    ['qdq', 0.05],
    ['fp16', 0.002],
  ] as const)(
    '%s answers within %f of fp32 on rendered lines, at most 0.6x its size',
    async (method, tolerance) => {
      const rewritten =
        method === 'dynamic'
          ? quantizeDynamic(bytes)
          : method === 'fp16'
            ? convertFp16(bytes)
            : quantizeQdq(bytes, await calibrate(bytes, qdqActivations(bytes), [{ x }]));

      const [expected, actual] = await Promise.all([run(bytes, { x }), run(rewritten, { x })]);

      expect(rewritten.length).toBeLessThan(bytes.length * 0.6);
      for (const [i, [, rotate]] of lines.entries()) {
        expect((expected[i * 2 + 1] as number) > 0.5).toBe(rotate === 180);
      }
      for (let i = 0; i < expected.length; i++) {
        expect(Math.abs((actual[i] as number) - (expected[i] as number))).toBeLessThan(tolerance);
      }
    },
  );
});

describe("the mixed method on the PP-OCR detector (the repository's int8-mixed variant)", () => {
  it('answers the fp32 probability map within a mean of 0.002, under 0.1 % of its pixels across the 0.3 threshold', async () => {
    const dir = `models/ppocr-v4-det/${OCR_VERSION}`;
    const image = await decodeImage(await renderReceipt());
    const [width, height] = [image.width, image.height].map((v) => Math.round(v / 32) * 32) as [
      number,
      number,
    ];
    const planes = detectionTensor(image, width, height, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    const x = new ort.Tensor('float32', planes, [1, 3, height, width]);
    const read = async (file: string) => run(new Uint8Array(await readFile(`${dir}/${file}`)), { x });
    const fp32 = await read('model.onnx');
    const mixed = await read('model-int8-mixed.onnx');

    let sum = 0;
    let crossed = 0;
    for (let i = 0; i < fp32.length; i++) {
      const [a, b] = [fp32[i] as number, mixed[i] as number];
      sum += Math.abs(a - b);
      if (a > 0.3 !== b > 0.3) crossed++;
    }
    expect(fp32.some((p) => p > 0.9)).toBe(true);
    expect(sum / fp32.length).toBeLessThan(0.002);
    expect(crossed / fp32.length).toBeLessThan(0.001);
  });
});
