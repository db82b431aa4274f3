import type { DecodedImage } from './decode-image.ts';
import { distance, type Quad } from './geometry.ts';

/** Where in a `[N, 3, H, W]` float tensor one sample goes. */
export interface TensorSlot {
  readonly tensor: Float32Array;
  /** Index of the sample in the batch. */
  readonly index: number;
  /** The tensor's H and W. */
  readonly height: number;
  readonly width: number;
}

/**
 * Pixel size of the crop PaddleOCR's `get_rotate_crop_image` would cut from this quad: the longer of each
 * pair of opposite sides, truncated.
 */
export function cropSize(quad: Quad): { width: number; height: number } {
  const [p0, p1, p2, p3] = quad;
  return {
    width: Math.max(1, Math.trunc(Math.max(distance(p0, p1), distance(p2, p3)))),
    height: Math.max(1, Math.trunc(Math.max(distance(p0, p3), distance(p1, p2)))),
  };
}

/** The quad turned a quarter counter-clockwise: its right side becomes its top (`np.rot90`). */
export function rotateQuarter(quad: Quad): Quad {
  return [quad[1], quad[2], quad[3], quad[0]];
}

/** The quad turned half a turn: what was its bottom-right is now its top-left. */
export function rotateHalf(quad: Quad): Quad {
  return [quad[2], quad[3], quad[0], quad[1]];
}

/**
 * Samples the text inside `quad` straight into a tensor slot, `contentWidth` × `slot.height` pixels from
 * the left, normalised to `(v / 255 - 0.5) / 0.5` in B, G, R channel order as the PaddleOCR classifier and
 * recogniser expect. The rest of the row is left as it is (zero in a fresh tensor: PaddleOCR's padding).
 *
 * This replaces a perspective warp followed by a resize: each output pixel maps through the quad to a source
 * position and is read bilinearly. Where the crop shrinks by about 2 or more, several positions per pixel
 * are averaged (up to 4 × 4) so that large text does not alias; below that bilinear reads every source
 * pixel's neighbourhood anyway. Positions outside the image repeat the border pixel.
 */
export function sampleQuad(
  image: Pick<DecodedImage, 'data' | 'width' | 'height'>,
  quad: Quad,
  slot: TensorSlot,
  contentWidth: number,
): void {
  const { data, width: iw, height: ih } = image;
  const { tensor, height: outH, width: outW } = slot;
  const [p0, p1, p2, p3] = quad;
  const crop = cropSize(quad);
  const kx = Math.min(4, Math.max(1, Math.round(crop.width / contentWidth)));
  const ky = Math.min(4, Math.max(1, Math.round(crop.height / outH)));
  const plane = outH * outW;
  const base = slot.index * 3 * plane;
  const norm = 1 / (127.5 * kx * ky);
  const maxX = iw - 1;
  const maxY = ih - 1;
  // Sub-sample positions along each axis as fractions of the crop, in the crop's pixel-centre convention.
  const fractions = (out: number, size: number, k: number): Float64Array => {
    const f = new Float64Array(out * k);
    const step = size / out;
    for (let i = 0; i < out; i++) {
      for (let m = 0; m < k; m++) {
        f[i * k + m] = Math.min(Math.max(((i + (m + 0.5) / k) * step - 0.5) / size, 0), 1);
      }
    }
    return f;
  };
  const su = fractions(contentWidth, crop.width, kx);
  const sv = fractions(outH, crop.height, ky);
  if (kx === 1 && ky === 1) {
    sampleOnce(image, quad, slot, contentWidth, su, sv);
    return;
  }
  const columns = contentWidth * kx;
  const red = new Float64Array(contentWidth);
  const green = new Float64Array(contentWidth);
  const blue = new Float64Array(contentWidth);
  for (let y = 0; y < outH; y++) {
    red.fill(0);
    green.fill(0);
    blue.fill(0);
    for (let my = 0; my < ky; my++) {
      const t = sv[y * ky + my] as number;
      // Bilinear interpolation of the corners: exact for the rectangles the detector gives.
      const lx = p0[0] + (p3[0] - p0[0]) * t;
      const ly = p0[1] + (p3[1] - p0[1]) * t;
      const dx = p1[0] + (p2[0] - p1[0]) * t - lx;
      const dy = p1[1] + (p2[1] - p1[1]) * t - ly;
      for (let c = 0; c < columns; c++) {
        const s = su[c] as number;
        const fx = Math.max(0, Math.min(lx + dx * s, maxX));
        const fy = Math.max(0, Math.min(ly + dy * s, maxY));
        const x0 = fx | 0;
        const y0 = fy | 0;
        const ax = fx - x0;
        const ay = fy - y0;
        const i00 = (y0 * iw + x0) * 3;
        const i01 = x0 < maxX ? i00 + 3 : i00;
        const i10 = y0 < maxY ? i00 + iw * 3 : i00;
        const i11 = x0 < maxX ? i10 + 3 : i10;
        const w11 = ax * ay;
        const w01 = ax - w11;
        const w10 = ay - w11;
        const w00 = 1 - ax - w10;
        const x = (c / kx) | 0;
        red[x] =
          (red[x] as number) +
          (data[i00] as number) * w00 +
          (data[i01] as number) * w01 +
          (data[i10] as number) * w10 +
          (data[i11] as number) * w11;
        green[x] =
          (green[x] as number) +
          (data[i00 + 1] as number) * w00 +
          (data[i01 + 1] as number) * w01 +
          (data[i10 + 1] as number) * w10 +
          (data[i11 + 1] as number) * w11;
        blue[x] =
          (blue[x] as number) +
          (data[i00 + 2] as number) * w00 +
          (data[i01 + 2] as number) * w01 +
          (data[i10 + 2] as number) * w10 +
          (data[i11 + 2] as number) * w11;
      }
    }
    const row = base + y * outW;
    for (let x = 0; x < contentWidth; x++) {
      tensor[row + x] = (blue[x] as number) * norm - 1;
      tensor[row + plane + x] = (green[x] as number) * norm - 1;
      tensor[row + 2 * plane + x] = (red[x] as number) * norm - 1;
    }
  }
}

/**
 * {@link sampleQuad} where each output pixel reads one position (the crop is not shrunk by 2 or more, as
 * for most lines): the same arithmetic, written straight to the tensor, without the border checks on rows
 * whose positions all lie inside the image.
 */
function sampleOnce(
  image: Pick<DecodedImage, 'data' | 'width' | 'height'>,
  quad: Quad,
  slot: TensorSlot,
  contentWidth: number,
  su: Float64Array,
  sv: Float64Array,
): void {
  const { data, width: iw, height: ih } = image;
  const { tensor, height: outH, width: outW } = slot;
  const [p0, p1, p2, p3] = quad;
  const plane = outH * outW;
  const base = slot.index * 3 * plane;
  const norm = 1 / 127.5;
  const maxX = iw - 1;
  const maxY = ih - 1;
  const rowStride = iw * 3;
  const first = su[0] as number;
  const last = su[contentWidth - 1] as number;
  for (let y = 0; y < outH; y++) {
    const t = sv[y] as number;
    const lx = p0[0] + (p3[0] - p0[0]) * t;
    const ly = p0[1] + (p3[1] - p0[1]) * t;
    const dx = p1[0] + (p2[0] - p1[0]) * t - lx;
    const dy = p1[1] + (p2[1] - p1[1]) * t - ly;
    // Positions move linearly along the row: inside at both ends is inside throughout.
    const xa = lx + dx * first;
    const xb = lx + dx * last;
    const ya = ly + dy * first;
    const yb = ly + dy * last;
    const inside =
      Math.min(xa, xb) >= 0 && Math.max(xa, xb) < maxX && Math.min(ya, yb) >= 0 && Math.max(ya, yb) < maxY;
    const row = base + y * outW;
    for (let x = 0; x < contentWidth; x++) {
      const s = su[x] as number;
      let fx = lx + dx * s;
      let fy = ly + dy * s;
      let i00: number;
      let i01: number;
      let i10: number;
      let i11: number;
      if (inside) {
        const x0 = fx | 0;
        const y0 = fy | 0;
        i00 = (y0 * iw + x0) * 3;
        i01 = i00 + 3;
        i10 = i00 + rowStride;
        i11 = i10 + 3;
        fx -= x0;
        fy -= y0;
      } else {
        fx = Math.max(0, Math.min(fx, maxX));
        fy = Math.max(0, Math.min(fy, maxY));
        const x0 = fx | 0;
        const y0 = fy | 0;
        i00 = (y0 * iw + x0) * 3;
        i01 = x0 < maxX ? i00 + 3 : i00;
        i10 = y0 < maxY ? i00 + rowStride : i00;
        i11 = x0 < maxX ? i10 + 3 : i10;
        fx -= x0;
        fy -= y0;
      }
      const w11 = fx * fy;
      const w01 = fx - w11;
      const w10 = fy - w11;
      const w00 = 1 - fx - w10;
      const red =
        (data[i00] as number) * w00 +
        (data[i01] as number) * w01 +
        (data[i10] as number) * w10 +
        (data[i11] as number) * w11;
      const green =
        (data[i00 + 1] as number) * w00 +
        (data[i01 + 1] as number) * w01 +
        (data[i10 + 1] as number) * w10 +
        (data[i11 + 1] as number) * w11;
      const blue =
        (data[i00 + 2] as number) * w00 +
        (data[i01 + 2] as number) * w01 +
        (data[i10 + 2] as number) * w10 +
        (data[i11 + 2] as number) * w11;
      tensor[row + x] = blue * norm - 1;
      tensor[row + plane + x] = green * norm - 1;
      tensor[row + 2 * plane + x] = red * norm - 1;
    }
  }
}
