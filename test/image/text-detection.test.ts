import { describe, expect, it } from 'vitest';
import {
  boxesFromProbabilityMap,
  type DetectionOptions,
  detectionInputSize,
  detectionTensor,
} from '../../functions/image/text-detection.ts';

const options: DetectionOptions = {
  limitSideLen: 960,
  limitType: 'max',
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minBoxSize: 3,
  maxCandidates: 1000,
};

/** A probability map with `value` inside each `[x0, y0, x1, y1]` rectangle (inclusive) and 0.01 elsewhere. */
function probabilityMap(width: number, height: number, rects: number[][], value = 0.9): Float32Array {
  const map = new Float32Array(width * height).fill(0.01);
  for (const [x0 = 0, y0 = 0, x1 = 0, y1 = 0] of rects) {
    for (let y = y0; y <= y1; y++) map.fill(value, y * width + x0, y * width + x1 + 1);
  }
  return map;
}

describe('detectionInputSize', () => {
  it('caps the longer side at the limit and rounds both sides to multiples of 32', () => {
    expect(detectionInputSize(1200, 900, options)).toEqual({ width: 960, height: 736 });
  });

  it('keeps a small image at its size, rounded to multiples of 32, at least 32', () => {
    expect(detectionInputSize(640, 200, options)).toEqual({ width: 640, height: 192 });
    expect(detectionInputSize(10, 10, options)).toEqual({ width: 32, height: 32 });
  });
});

describe('detectionTensor', () => {
  it('writes B, G, R planes normalised with the mean and std in that order', () => {
    const image = { data: new Uint8Array([255, 0, 51, 255, 0, 51]), width: 2, height: 1 };

    const tensor = detectionTensor(image, 2, 1, [0.1, 0.2, 0.3], [0.5, 0.5, 0.5]);

    expect(tensor[0]).toBeCloseTo((0.2 - 0.1) / 0.5, 5);
    expect(tensor[2]).toBeCloseTo((0 - 0.2) / 0.5, 5);
    expect(tensor[4]).toBeCloseTo((1 - 0.3) / 0.5, 5);
  });
});

describe('boxesFromProbabilityMap', () => {
  it('finds one box per text region, grown and scaled to the original image', () => {
    const map = probabilityMap(200, 100, [
      [20, 10, 119, 29],
      [20, 60, 79, 79],
    ]);

    const boxes = boxesFromProbabilityMap(map, 200, 100, 400, 200, options);

    expect(boxes).toHaveLength(2);
    const extents = boxes
      .map((b) => [
        Math.min(...b.map((p) => p[0])),
        Math.min(...b.map((p) => p[1])),
        Math.max(...b.map((p) => p[0])),
        Math.max(...b.map((p) => p[1])),
      ])
      .sort((a, b) => (a[1] as number) - (b[1] as number));
    // Region 1 is 99 × 19 between pixel centres: grown by 99·19·1.5/236 ≈ 12 map pixels, doubled to image pixels.
    const [first, second] = extents as [number[], number[]];
    expect(first[0]).toBeGreaterThanOrEqual(40 - 26);
    expect(first[0]).toBeLessThanOrEqual(40 - 22);
    expect(first[2]).toBeGreaterThanOrEqual(238 + 22);
    expect(first[2]).toBeLessThanOrEqual(238 + 26);
    expect(first[1]).toBeLessThan(20);
    expect(first[3]).toBeGreaterThan(58);
    expect(second[1]).toBeGreaterThan(first[3] as number);
  });

  it('drops regions whose mean probability is under the box threshold', () => {
    const map = probabilityMap(200, 100, [[20, 10, 119, 29]], 0.45);

    const boxes = boxesFromProbabilityMap(map, 200, 100, 200, 100, options);

    expect(boxes).toEqual([]);
  });

  it('drops specks smaller than the minimum box size', () => {
    const map = probabilityMap(200, 100, [[50, 50, 51, 51]]);

    const boxes = boxesFromProbabilityMap(map, 200, 100, 200, 100, options);

    expect(boxes).toEqual([]);
  });

  it('joins diagonal neighbours into one region, as 8-connectivity does', () => {
    const map = probabilityMap(200, 100, [
      [10, 10, 59, 29],
      [60, 30, 109, 49],
    ]);

    const boxes = boxesFromProbabilityMap(map, 200, 100, 200, 100, { ...options, boxThreshold: 0.3 });

    expect(boxes).toHaveLength(1);
  });
});
