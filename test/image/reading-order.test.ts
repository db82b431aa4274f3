import { describe, expect, it } from 'vitest';
import type { Quad } from '../../functions/image/geometry.ts';
import { readingOrder } from '../../functions/image/reading-order.ts';

const box = (x: number, y: number, w: number, h: number): Quad => [
  [x, y],
  [x + w, y],
  [x + w, y + h],
  [x, y + h],
];

describe('readingOrder', () => {
  it('reads rows top to bottom and boxes in a row left to right', () => {
    const boxes = [box(300, 102, 80, 30), box(10, 20, 200, 30), box(10, 100, 250, 34), box(240, 18, 90, 32)];

    const rows = readingOrder(boxes, { width: 400, height: 200, upsideDown: false });

    expect(rows).toEqual([
      [1, 3],
      [2, 0],
    ]);
  });

  it('keeps touching neighbours of consecutive lines in separate rows', () => {
    // Grown boxes of lines 40 px apart overlap by a few pixels; that is not a shared row.
    const boxes = [box(10, 10, 300, 46), box(10, 50, 300, 46), box(10, 90, 300, 46)];

    const rows = readingOrder(boxes, { width: 400, height: 200, upsideDown: false });

    expect(rows).toEqual([[0], [1], [2]]);
  });

  it('reads an upside-down page from its bottom-right', () => {
    const boxes = [box(10, 20, 200, 30), box(10, 100, 200, 30), box(250, 100, 100, 30)];

    const rows = readingOrder(boxes, { width: 400, height: 200, upsideDown: true });

    expect(rows).toEqual([[2, 1], [0]]);
  });
});
