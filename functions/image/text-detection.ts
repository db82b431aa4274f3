import { TimeSlicer } from '../core/event-loop.ts';
import type { DecodedImage } from './decode-image.ts';
import { convexHull, distance, minAreaRect, type Point, type Quad, unclip } from './geometry.ts';

/** How the detector's input size is chosen and how its probability map becomes boxes (DB post-processing). */
export interface DetectionOptions {
  /** Side limit of the detector input, in pixels. */
  readonly limitSideLen: number;
  /** `max`: the longer side is at most the limit; `min`: the shorter side is at least the limit. */
  readonly limitType: 'max' | 'min';
  /** Probability above which a map pixel is text. */
  readonly threshold: number;
  /** Mean probability inside a candidate box below which it is dropped. */
  readonly boxThreshold: number;
  /** How far a shrunk box is grown back: distance = area * ratio / perimeter. */
  readonly unclipRatio: number;
  /** Shorter side (map pixels) below which a candidate is noise. */
  readonly minBoxSize: number;
  /** Most components looked at per image. */
  readonly maxCandidates: number;
}

/** Detector input dimensions for an image: scaled by the side limit, each rounded to a multiple of `stride`. */
export function detectionInputSize(
  width: number,
  height: number,
  options: Pick<DetectionOptions, 'limitSideLen' | 'limitType'>,
  stride = 32,
): { width: number; height: number } {
  let ratio = 1;
  if (options.limitType === 'max') {
    const longer = Math.max(width, height);
    if (longer > options.limitSideLen) ratio = options.limitSideLen / longer;
  } else {
    const shorter = Math.min(width, height);
    if (shorter < options.limitSideLen) ratio = options.limitSideLen / shorter;
  }
  const round = (v: number) => Math.max(Math.round((v * ratio) / stride) * stride, stride);
  return { width: round(width), height: round(height) };
}

/**
 * Resizes an RGB image bilinearly (OpenCV's INTER_LINEAR pixel-centre convention, which the detector was
 * trained with) straight into a normalised `[3, H, W]` tensor. The channels are written B, G, R with
 * `mean`/`std` indexed in that order: PaddleOCR feeds OpenCV's BGR images to its ImageNet normalisation.
 *
 * Separable: each source row needed is interpolated horizontally once, into one of two row buffers, and
 * output rows blend the two; that halves the work of a direct 4-tap bilinear per output pixel.
 */
export function detectionTensor(
  image: Pick<DecodedImage, 'data' | 'width' | 'height'>,
  width: number,
  height: number,
  mean: readonly number[],
  std: readonly number[],
): Float32Array {
  const rows = detectionRows(image, width, height, mean, std);
  let step = rows.next();
  while (!step.done) step = rows.next();
  return step.value;
}

/**
 * {@link detectionTensor} in time slices: the same tensor, with a yield to the event loop every ~20 ms
 * (a 960×960 input from a 40-megapixel page takes ~50 ms on one core, more on a busy one).
 */
export async function detectionTensorInSlices(
  image: Pick<DecodedImage, 'data' | 'width' | 'height'>,
  width: number,
  height: number,
  mean: readonly number[],
  std: readonly number[],
): Promise<Float32Array> {
  const slicer = new TimeSlicer();
  const rows = detectionRows(image, width, height, mean, std);
  let step = rows.next();
  while (!step.done) {
    await slicer.pause();
    step = rows.next();
  }
  return step.value;
}

/** Output rows per step of {@link detectionRows}: ~1 ms of work, so the slicer's checks cost nothing. */
const ROWS_PER_STEP = 16;

/** The work of {@link detectionTensor}, stopping after every {@link ROWS_PER_STEP} output rows. */
function* detectionRows(
  image: Pick<DecodedImage, 'data' | 'width' | 'height'>,
  width: number,
  height: number,
  mean: readonly number[],
  std: readonly number[],
): Generator<void, Float32Array, void> {
  const { data, width: sw, height: sh } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const x0 = new Int32Array(width);
  const x1 = new Int32Array(width);
  const fx = new Float32Array(width);
  const sx = sw / width;
  for (let x = 0; x < width; x++) {
    const s = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
    const i = Math.floor(s);
    x0[x] = i * 3;
    x1[x] = Math.min(i + 1, sw - 1) * 3;
    fx[x] = s - i;
  }
  // The same width as the source (most images within the side limit): a row is its pixels, converted.
  const sameWidth = width === sw;
  const interpolateRow = (row: number, into: Float32Array): void => {
    const base = row * sw * 3;
    if (sameWidth) {
      into.set(data.subarray(base, base + sw * 3));
      return;
    }
    for (let x = 0, o = 0; x < width; x++, o += 3) {
      const a = base + (x0[x] as number);
      const b = base + (x1[x] as number);
      const f = fx[x] as number;
      const r = data[a] as number;
      const g = data[a + 1] as number;
      const bl = data[a + 2] as number;
      into[o] = r + ((data[b] as number) - r) * f;
      into[o + 1] = g + ((data[b + 1] as number) - g) * f;
      into[o + 2] = bl + ((data[b + 2] as number) - bl) * f;
    }
  };
  // v' = (v / 255 - mean) / std, per tensor channel c reading RGB channel 2 - c.
  const kb = 1 / (255 * (std[0] ?? 1));
  const kg = 1 / (255 * (std[1] ?? 1));
  const kr = 1 / (255 * (std[2] ?? 1));
  const bb = -(mean[0] ?? 0) / (std[0] ?? 1);
  const bg = -(mean[1] ?? 0) / (std[1] ?? 1);
  const br = -(mean[2] ?? 0) / (std[2] ?? 1);
  let upper = new Float32Array(width * 3);
  let lower = new Float32Array(width * 3);
  let upperRow = -1;
  let lowerRow = -1;
  const sy = sh / height;
  for (let y = 0; y < height; y++) {
    const s = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const j = Math.floor(s);
    const j1 = Math.min(j + 1, sh - 1);
    const fy = s - j;
    if (upperRow !== j) {
      if (lowerRow === j) {
        [upper, lower] = [lower, upper];
        upperRow = j;
        lowerRow = -1;
      } else {
        interpolateRow(j, upper);
        upperRow = j;
      }
    }
    if (lowerRow !== j1) {
      interpolateRow(j1, lower);
      lowerRow = j1;
    }
    let o = y * width;
    for (let x = 0, i = 0; x < width; x++, o++, i += 3) {
      const r = upper[i] as number;
      const g = upper[i + 1] as number;
      const b = upper[i + 2] as number;
      out[o] = (b + ((lower[i + 2] as number) - b) * fy) * kb + bb;
      out[o + plane] = (g + ((lower[i + 1] as number) - g) * fy) * kg + bg;
      out[o + 2 * plane] = (r + ((lower[i] as number) - r) * fy) * kr + br;
    }
    if (y % ROWS_PER_STEP === ROWS_PER_STEP - 1) yield;
  }
  return out;
}

/** A grow-only Int32 buffer, so a component search allocates once per image rather than per run. */
class IntStack {
  data = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/**
 * Connected components (8-connectivity) of `prob > threshold`, as horizontal runs. Runs are enough: the
 * convex hull of a component is the hull of its runs' end points, so no label image is needed.
 *
 * @returns for each component, the flat `[x, y, …]` end points of its runs.
 */
export function componentOutlines(
  prob: Float32Array,
  width: number,
  height: number,
  threshold: number,
): Float64Array[] {
  const starts = new IntStack();
  const ends = new IntStack();
  const rows = new IntStack();
  const parent = new IntStack();
  const find = (i: number): number => {
    const p = parent.data;
    let r = i;
    while ((p[r] as number) !== r) r = p[r] as number;
    while ((p[i] as number) !== r) {
      const next = p[i] as number;
      p[i] = r;
      i = next;
    }
    return r;
  };
  let prevBegin = 0;
  let prevEnd = 0;
  for (let y = 0; y < height; y++) {
    const rowBegin = starts.length;
    const base = y * width;
    let scan = prevBegin;
    let x = 0;
    while (x < width) {
      if ((prob[base + x] as number) <= threshold) {
        x++;
        continue;
      }
      const start = x;
      while (x < width && (prob[base + x] as number) > threshold) x++;
      const end = x - 1;
      const id = starts.length;
      starts.push(start);
      ends.push(end);
      rows.push(y);
      parent.push(id);
      // Runs of the row above are sorted; skip those that end left of this run's diagonal neighbour.
      while (scan < prevEnd && (ends.data[scan] as number) < start - 1) scan++;
      for (let k = scan; k < prevEnd && (starts.data[k] as number) <= end + 1; k++) {
        const a = find(k);
        const b = find(id);
        if (a !== b) parent.data[Math.max(a, b)] = Math.min(a, b);
      }
    }
    prevBegin = rowBegin;
    prevEnd = starts.length;
  }
  const runCount = starts.length;
  const component = new Int32Array(runCount);
  const sizes: number[] = [];
  const indexOfRoot = new Map<number, number>();
  for (let i = 0; i < runCount; i++) {
    const root = find(i);
    let c = indexOfRoot.get(root);
    if (c === undefined) {
      c = sizes.length;
      indexOfRoot.set(root, c);
      sizes.push(0);
    }
    component[i] = c;
    sizes[c] = (sizes[c] as number) + 1;
  }
  const outlines = sizes.map((n) => new Float64Array(n * 4));
  const filled = new Int32Array(sizes.length);
  for (let i = 0; i < runCount; i++) {
    const c = component[i] as number;
    const o = (filled[c] as number) * 4;
    const points = outlines[c] as Float64Array;
    const y = rows.data[i] as number;
    points[o] = starts.data[i] as number;
    points[o + 1] = y;
    points[o + 2] = ends.data[i] as number;
    points[o + 3] = y;
    filled[c] = (filled[c] as number) + 1;
  }
  return outlines;
}

/**
 * Mean probability inside a quadrilateral (PaddleOCR's "fast" box score): a scan-line fill of the convex
 * quad over map pixel centres.
 */
export function boxScore(prob: Float32Array, width: number, height: number, quad: Quad): number {
  let minY = Number.POSITIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const p of quad) {
    if (p[1] < minY) minY = p[1];
    if (p[1] > maxY) maxY = p[1];
  }
  const y0 = Math.max(0, Math.ceil(minY));
  const y1 = Math.min(height - 1, Math.floor(maxY));
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    let left = Number.POSITIVE_INFINITY;
    let right = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < 4; i++) {
      const a = quad[i] as Point;
      const b = quad[(i + 1) & 3] as Point;
      const lo = Math.min(a[1], b[1]);
      const hi = Math.max(a[1], b[1]);
      if (y < lo || y > hi) continue;
      if (hi === lo) {
        // A horizontal edge lying on this row covers its whole span.
        left = Math.min(left, a[0], b[0]);
        right = Math.max(right, a[0], b[0]);
      } else {
        const x = a[0] + ((y - a[1]) * (b[0] - a[0])) / (b[1] - a[1]);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
    const x0 = Math.max(0, Math.ceil(left - 1e-6));
    const x1 = Math.min(width - 1, Math.floor(right + 1e-6));
    const row = y * width;
    for (let x = x0; x <= x1; x++) sum += prob[row + x] as number;
    if (x1 >= x0) count += x1 - x0 + 1;
  }
  return count > 0 ? sum / count : 0;
}

/**
 * DB post-processing: from the detector's probability map (`mapWidth` × `mapHeight`) to text boxes in the
 * coordinates of the original `imageWidth` × `imageHeight` image, corners clockwise from the top-left.
 */
export function boxesFromProbabilityMap(
  prob: Float32Array,
  mapWidth: number,
  mapHeight: number,
  imageWidth: number,
  imageHeight: number,
  options: DetectionOptions,
): Quad[] {
  const outlines = componentOutlines(prob, mapWidth, mapHeight, options.threshold);
  const boxes: Quad[] = [];
  const sx = imageWidth / mapWidth;
  const sy = imageHeight / mapHeight;
  const limit = Math.min(outlines.length, options.maxCandidates);
  for (let i = 0; i < limit; i++) {
    const points = outlines[i] as Float64Array;
    // A component of fewer runs spans too few rows to reach the minimum size: skip the hull work.
    if (points.length < 4 * options.minBoxSize) continue;
    const rect = minAreaRect(convexHull(points));
    if (rect.shortSide < options.minBoxSize) continue;
    if (boxScore(prob, mapWidth, mapHeight, rect.corners) < options.boxThreshold) continue;
    const grown = unclip(rect.corners, options.unclipRatio);
    if (grown.shortSide < options.minBoxSize + 2) continue;
    // Scaled and rounded as PaddleOCR does, then clipped to the last pixel so crops stay inside the image.
    const quad = grown.corners.map(
      ([x, y]): Point => [
        Math.min(Math.max(Math.round(x * sx), 0), imageWidth - 1),
        Math.min(Math.max(Math.round(y * sy), 0), imageHeight - 1),
      ],
    ) as Quad;
    if (Math.trunc(distance(quad[0], quad[1])) <= 3 || Math.trunc(distance(quad[0], quad[3])) <= 3) continue;
    boxes.push(quad);
  }
  return boxes;
}
