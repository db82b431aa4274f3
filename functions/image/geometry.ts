/** A point `[x, y]` in pixels. */
export type Point = [number, number];

/** Four corners, clockwise from the top-left of the text. */
export type Quad = [Point, Point, Point, Point];

/** A rotated rectangle: its four corners (clockwise from top-left) and the length of its shorter side. */
export interface RotatedRect {
  readonly corners: Quad;
  readonly shortSide: number;
}

function cross(ox: number, oy: number, ax: number, ay: number, bx: number, by: number): number {
  return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

/**
 * Convex hull of points given as a flat `[x0, y0, x1, y1, …]` array (Andrew's monotone chain).
 * Returns the hull counter-clockwise in the usual maths frame (clockwise on screen), flat as well,
 * without repeating the first point; collinear points are dropped.
 */
export function convexHull(xy: ArrayLike<number>, count = xy.length >> 1): Float64Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort(
    (a, b) =>
      (xy[2 * a] as number) - (xy[2 * b] as number) || (xy[2 * a + 1] as number) - (xy[2 * b + 1] as number),
  );
  if (count < 3) {
    const out = new Float64Array(count * 2);
    for (let i = 0; i < count; i++) {
      const k = order[i] as number;
      out[2 * i] = xy[2 * k] as number;
      out[2 * i + 1] = xy[2 * k + 1] as number;
    }
    return out;
  }
  const hull = new Float64Array(4 * count + 4);
  let n = 0;
  const push = (k: number, floor: number) => {
    const x = xy[2 * k] as number;
    const y = xy[2 * k + 1] as number;
    while (
      n >= floor + 2 &&
      cross(
        hull[2 * n - 4] as number,
        hull[2 * n - 3] as number,
        hull[2 * n - 2] as number,
        hull[2 * n - 1] as number,
        x,
        y,
      ) <= 0
    ) {
      n--;
    }
    hull[2 * n] = x;
    hull[2 * n + 1] = y;
    n++;
  };
  for (let i = 0; i < count; i++) push(order[i] as number, 0);
  const lower = n - 1;
  for (let i = count - 2; i >= 0; i--) push(order[i] as number, lower);
  // The last point pushed is the first again.
  return hull.slice(0, 2 * (n - 1));
}

/**
 * Orders four corners the way PaddleOCR's `get_mini_boxes` does: of the two left-most points the upper one
 * is the top-left, of the two right-most the upper one is the top-right; result clockwise on screen.
 */
export function orderCorners(points: readonly Point[]): Quad {
  const p = [...points].sort((a, b) => a[0] - b[0]) as Quad;
  const [a, b, c, d] = p;
  const [tl, bl] = b[1] > a[1] ? [a, b] : [b, a];
  const [tr, br] = d[1] > c[1] ? [c, d] : [d, c];
  return [tl, tr, br, bl];
}

/**
 * Minimum-area enclosing rectangle of a convex hull (flat, as {@link convexHull} returns it), by rotating
 * calipers: the optimal rectangle has a side on a hull edge, so every edge direction is tried.
 */
export function minAreaRect(hull: Float64Array): RotatedRect {
  const n = hull.length >> 1;
  if (n === 0)
    return {
      corners: [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      shortSide: 0,
    };
  if (n === 1) {
    const x = hull[0] as number;
    const y = hull[1] as number;
    return {
      corners: [
        [x, y],
        [x, y],
        [x, y],
        [x, y],
      ],
      shortSide: 0,
    };
  }
  let best = Number.POSITIVE_INFINITY;
  let bux = 1;
  let buy = 0;
  let bMinU = 0;
  let bMaxU = 0;
  let bMinV = 0;
  let bMaxV = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    let ux = (hull[2 * j] as number) - (hull[2 * i] as number);
    let uy = (hull[2 * j + 1] as number) - (hull[2 * i + 1] as number);
    const len = Math.hypot(ux, uy);
    if (len === 0) continue;
    ux /= len;
    uy /= len;
    let minU = Number.POSITIVE_INFINITY;
    let maxU = Number.NEGATIVE_INFINITY;
    let minV = Number.POSITIVE_INFINITY;
    let maxV = Number.NEGATIVE_INFINITY;
    // Hulls of text components are small (tens of points), so a full projection per edge is cheaper
    // than maintaining the four calipers incrementally.
    for (let k = 0; k < n; k++) {
      const x = hull[2 * k] as number;
      const y = hull[2 * k + 1] as number;
      const u = x * ux + y * uy;
      const v = -x * uy + y * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < best) {
      best = area;
      bux = ux;
      buy = uy;
      bMinU = minU;
      bMaxU = maxU;
      bMinV = minV;
      bMaxV = maxV;
    }
  }
  const at = (u: number, v: number): Point => [u * bux - v * buy, u * buy + v * bux];
  const corners = orderCorners([at(bMinU, bMinV), at(bMaxU, bMinV), at(bMaxU, bMaxV), at(bMinU, bMaxV)]);
  return { corners, shortSide: Math.min(bMaxU - bMinU, bMaxV - bMinV) };
}

/** Area of a simple polygon (absolute value, shoelace formula). */
export function polygonArea(points: readonly Point[]): number {
  let sum = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const a = points[j] as Point;
    const b = points[i] as Point;
    sum += a[0] * b[1] - b[0] * a[1];
  }
  return Math.abs(sum) / 2;
}

/** Perimeter of a closed polygon. */
export function polygonPerimeter(points: readonly Point[]): number {
  let sum = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const a = points[j] as Point;
    const b = points[i] as Point;
    sum += Math.hypot(a[0] - b[0], a[1] - b[1]);
  }
  return sum;
}

/**
 * DB's "unclip": grows a detected (shrunk) text rectangle back to the text's extent. The offset distance is
 * `area * ratio / perimeter`, as in the DB paper and PaddleOCR. PaddleOCR offsets the polygon with rounded
 * joins (pyclipper) and takes the minimum-area rectangle of the result again; for a rectangle input that is
 * exactly the rectangle with every side pushed out by the distance, which is what this computes directly.
 */
export function unclip(rect: Quad, ratio: number): RotatedRect {
  const [p0, p1, , p3] = rect;
  const w = Math.hypot(p1[0] - p0[0], p1[1] - p0[1]);
  const h = Math.hypot(p3[0] - p0[0], p3[1] - p0[1]);
  const perimeter = 2 * (w + h);
  const distance = perimeter > 0 ? (w * h * ratio) / perimeter : 0;
  // Unit vectors along the top edge and down the left edge; degenerate sides fall back to the axes.
  const ux = w > 0 ? (p1[0] - p0[0]) / w : 1;
  const uy = w > 0 ? (p1[1] - p0[1]) / w : 0;
  const vx = h > 0 ? (p3[0] - p0[0]) / h : -uy;
  const vy = h > 0 ? (p3[1] - p0[1]) / h : ux;
  const cx = (p0[0] + rect[2][0]) / 2;
  const cy = (p0[1] + rect[2][1]) / 2;
  const hw = w / 2 + distance;
  const hh = h / 2 + distance;
  const at = (su: number, sv: number): Point => [
    cx + su * hw * ux + sv * hh * vx,
    cy + su * hw * uy + sv * hh * vy,
  ];
  const corners = orderCorners([at(-1, -1), at(1, -1), at(1, 1), at(-1, 1)]);
  return { corners, shortSide: 2 * Math.min(hw, hh) };
}

/** Euclidean distance between two points. */
export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}
