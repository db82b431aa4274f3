import type { Quad } from './geometry.ts';

/** Page frame in which to read: `upsideDown` reads the page as if it had been turned half a turn. */
export interface Page {
  readonly width: number;
  readonly height: number;
  readonly upsideDown: boolean;
}

/**
 * Groups boxes into rows and orders them for reading: rows top to bottom, boxes in a row left to right.
 * Two boxes share a row when their vertical extents overlap by at least half the shorter one; half rather
 * than any overlap, because grown ("unclipped") boxes of neighbouring lines touch. On an upside-down page
 * the order is taken in the turned frame, so the text still reads in order.
 *
 * @returns rows of indices into `boxes`.
 */
export function readingOrder(boxes: readonly Quad[], page: Page): number[][] {
  const n = boxes.length;
  const top = new Float64Array(n);
  const bottom = new Float64Array(n);
  const left = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = Number.POSITIVE_INFINITY;
    let b = Number.NEGATIVE_INFINITY;
    let l = Number.POSITIVE_INFINITY;
    for (const [px, py] of boxes[i] as Quad) {
      const x = page.upsideDown ? page.width - px : px;
      const y = page.upsideDown ? page.height - py : py;
      if (y < t) t = y;
      if (y > b) b = y;
      if (x < l) l = x;
    }
    top[i] = t;
    bottom[i] = b;
    left[i] = l;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (top[a] as number) - (top[b] as number) || (left[a] as number) - (left[b] as number),
  );
  const rows: { top: number; bottom: number; members: number[] }[] = [];
  for (const i of order) {
    const t = top[i] as number;
    const b = bottom[i] as number;
    let joined = false;
    // The most recent rows are the likeliest match; a box may still belong to an earlier one in another column.
    for (let r = rows.length - 1; r >= 0; r--) {
      const row = rows[r] as (typeof rows)[number];
      const overlap = Math.min(b, row.bottom) - Math.max(t, row.top);
      if (overlap >= 0.5 * Math.min(b - t, row.bottom - row.top)) {
        row.members.push(i);
        joined = true;
        break;
      }
    }
    if (!joined) rows.push({ top: t, bottom: b, members: [i] });
  }
  return rows.map((row) => row.members.sort((a, b) => (left[a] as number) - (left[b] as number)));
}
