import type * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchPolicy, RunCostModel } from '../../functions/image/batch-policy.ts';
import {
  bucketUp,
  cropMap,
  detectorBucket,
  padPlanes,
  recognizerBatchBucket,
  servedShapes,
} from '../../functions/image/gpu-shapes.ts';
import { type OcrModels, OcrPipeline } from '../../functions/image/ocr-pipeline.ts';
import { loadOcrModels } from '../support/ocr-models.ts';
import { renderText, stackLines } from '../support/render-text.ts';

describe('GPU shape buckets', () => {
  let models: OcrModels;
  beforeAll(async () => {
    // The GPU tier's variants: the float graphs that pad to these buckets on a GPU.
    models = await loadOcrModels({ tier: 'gpu' });
  });

  it('rounds sizes up to the few warmed buckets, and beyond them to multiples of the step', () => {
    expect(bucketUp(1, [480, 960], 480)).toBe(480);
    expect(bucketUp(481, [480, 960], 480)).toBe(960);
    expect(bucketUp(1000, [480, 960], 480)).toBe(1440);
    expect(detectorBucket(608, 288)).toEqual({ width: 960, height: 480 });
    expect(recognizerBatchBucket(5)).toBe(8);
    expect(servedShapes('detector')).toContainEqual([1, 3, 480, 960]);
    expect(servedShapes('recognizer')).toHaveLength(12);
    expect(servedShapes('classifier')).toEqual([
      [1, 3, 48, 192],
      [4, 3, 48, 192],
      [16, 3, 48, 192],
    ]);
  });

  it('pads planes to the top-left of a zero tensor and crops a map back to the image', () => {
    const planes = Float32Array.from({ length: 3 * 2 * 3 }, (_, i) => i + 1);

    const padded = padPlanes(planes, 3, 2, 4, 3);
    const cropped = cropMap(padded.subarray(0, 12), 4, 3, 2);

    expect(padded).toHaveLength(3 * 4 * 3);
    expect(Array.from(padded.subarray(0, 12))).toEqual([1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0]);
    expect(Array.from(cropped)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  // Padding moves the detector's map at the image's edges a little: boxes agree within a few pixels.
  it('reads the same text and boxes with every input padded to its bucket as without', async () => {
    const texts = ['corner market', 'coffee beans 18.90', 'oat milk 4.90', 'total 31.03'];
    const png = await renderText({
      width: 620,
      height: 250,
      lines: stackLines(texts.map((text) => ({ text, fontSize: 28 }))),
    });
    // Batches as a GPU would make them: all lines in one run, padded to a batch bucket.
    const flat = new BatchPolicy(
      new RunCostModel([
        { lines: 1, width: 320, ms: 20 },
        { lines: 32, width: 320, ms: 20 },
      ]),
      'flat',
    );
    const seen: number[][] = [];
    const recorded = {
      ...models,
      detector: {
        ...models.detector,
        session: new Proxy(models.detector.session as ort.InferenceSession, {
          get(target, key) {
            if (key !== 'run') return Reflect.get(target, key);
            return (feeds: Record<string, ort.Tensor>) => {
              seen.push([...(Object.values(feeds)[0]?.dims ?? [])]);
              return target.run(feeds);
            };
          },
        }),
      },
    };
    const options = { recPolicy: flat, clsPolicy: flat, offThreadInference: false };

    const [plain, bucketed] = await Promise.all([
      OcrPipeline.create(models, { ...options, shapeBuckets: false }).then((p) => p.run(png)),
      OcrPipeline.create(recorded, { ...options, shapeBuckets: true }).then((p) => p.run(png)),
    ]);

    expect(plain.lines.map((l) => l.text)).toEqual(texts);
    expect(bucketed.lines.map((l) => l.text)).toEqual(texts);
    expect(seen).toEqual([[1, 3, 480, 960]]);
    for (const [i, line] of plain.lines.entries()) {
      const other = bucketed.lines[i]?.box.flat() ?? [];
      line.box.flat().forEach((v, k) => {
        expect(Math.abs(v - (other[k] as number))).toBeLessThanOrEqual(4);
      });
    }
  });
});
