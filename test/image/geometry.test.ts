import { describe, expect, it } from 'vitest';
import {
  convexHull,
  minAreaRect,
  orderCorners,
  type Point,
  polygonArea,
  polygonPerimeter,
  unclip,
} from '../../functions/image/geometry.ts';

/** Grid points filling a `w` × `h` rectangle centred on (cx, cy), turned by `degrees`. */
function rotatedRectanglePoints(cx: number, cy: number, w: number, h: number, degrees: number): number[] {
  const a = (degrees * Math.PI) / 180;
  const xy: number[] = [];
  for (let u = -w / 2; u <= w / 2; u += w / 20) {
    for (let v = -h / 2; v <= h / 2; v += h / 5) {
      xy.push(cx + u * Math.cos(a) - v * Math.sin(a), cy + u * Math.sin(a) + v * Math.cos(a));
    }
  }
  return xy;
}

const side = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);

describe('convexHull', () => {
  it('keeps only the outer corners of a filled square', () => {
    const xy = [0, 0, 10, 0, 10, 10, 0, 10, 5, 5, 2, 7, 5, 0, 10, 5];

    const hull = Array.from(convexHull(xy));

    expect(hull).toHaveLength(8);
    const corners = new Set(Array.from({ length: 4 }, (_, i) => `${hull[2 * i]},${hull[2 * i + 1]}`));
    expect(corners).toEqual(new Set(['0,0', '10,0', '10,10', '0,10']));
  });
});

describe('minAreaRect', () => {
  it('finds the sides of a rectangle turned by 30 degrees', () => {
    const xy = rotatedRectanglePoints(200, 120, 100, 20, 30);

    const rect = minAreaRect(convexHull(xy));

    const [p0, p1, p2, p3] = rect.corners;
    expect(side(p0, p1)).toBeCloseTo(100, 6);
    expect(side(p1, p2)).toBeCloseTo(20, 6);
    expect(side(p2, p3)).toBeCloseTo(100, 6);
    expect(rect.shortSide).toBeCloseTo(20, 6);
    expect((p0[0] + p2[0]) / 2).toBeCloseTo(200, 6);
    expect((p0[1] + p2[1]) / 2).toBeCloseTo(120, 6);
  });

  it('returns the corners clockwise from the top-left of a slightly tilted line', () => {
    const xy = rotatedRectanglePoints(100, 50, 120, 30, 5);

    const [tl, tr, br, bl] = minAreaRect(convexHull(xy)).corners;

    expect(tl[0]).toBeLessThan(tr[0]);
    expect(bl[0]).toBeLessThan(br[0]);
    expect(tl[1]).toBeLessThan(bl[1]);
    expect(tr[1]).toBeLessThan(br[1]);
  });

  it('gives a zero short side for points on one row', () => {
    const rect = minAreaRect(convexHull([0, 5, 4, 5, 9, 5]));

    expect(rect.shortSide).toBe(0);
  });
});

describe('orderCorners', () => {
  it('orders shuffled corners clockwise from the top-left', () => {
    const corners = orderCorners([
      [10, 8],
      [0, 0],
      [0, 8],
      [10, 0],
    ]);

    expect(corners).toEqual([
      [0, 0],
      [10, 0],
      [10, 8],
      [0, 8],
    ]);
  });
});

describe('polygon measures', () => {
  it('computes the area and perimeter of a rectangle', () => {
    const rect: Point[] = [
      [0, 0],
      [4, 0],
      [4, 3],
      [0, 3],
    ];

    expect(polygonArea(rect)).toBe(12);
    expect(polygonPerimeter(rect)).toBe(14);
  });
});

describe('unclip', () => {
  it('pushes every side out by area × ratio / perimeter', () => {
    // 100 × 20: distance = 2000 × 1.5 / 240 = 12.5.
    const grown = unclip(
      [
        [10, 10],
        [110, 10],
        [110, 30],
        [10, 30],
      ],
      1.5,
    );

    expect(grown.corners[0][0]).toBeCloseTo(-2.5, 9);
    expect(grown.corners[0][1]).toBeCloseTo(-2.5, 9);
    expect(grown.corners[2][0]).toBeCloseTo(122.5, 9);
    expect(grown.corners[2][1]).toBeCloseTo(42.5, 9);
    expect(grown.shortSide).toBeCloseTo(45, 9);
  });

  it('keeps the orientation of a turned rectangle', () => {
    const rect = minAreaRect(convexHull(rotatedRectanglePoints(0, 0, 100, 20, 30)));

    const grown = unclip(rect.corners, 1.5);

    const [p0, p1, p2] = grown.corners;
    expect(side(p0, p1)).toBeCloseTo(125, 6);
    expect(side(p1, p2)).toBeCloseTo(45, 6);
    expect(Math.atan2(p1[1] - p0[1], p1[0] - p0[0])).toBeCloseTo(Math.PI / 6, 6);
  });
});
