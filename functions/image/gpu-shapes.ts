/**
 * The few input shapes the OCR models get on a GPU provider. WebGPU compiles its shaders for each new
 * input shape on first use, 0.4–4 s on an H100 (../shared/FACTS.md, "GPU machines"), and the CPU
 * pipeline's shapes are many (detector sides in steps of 32, recogniser widths in steps of 32, any batch
 * size). On a GPU the pipeline rounds them up to these buckets, zero-padded, and the model repository
 * builder writes them into each manifest as `parameters.servedShapes`, which session creation runs once at
 * load (`provider-selection.ts`): readiness comes after every bucket is compiled. A GPU's runs cost little
 * more for a bucket's padding than without it (detection at 960×960 17 ms, at 288×608 10 ms).
 */

/** Detector input sides (height and width each), for PaddleOCR's `max` limit of 960. */
export const DETECTOR_SIDES: readonly number[] = [480, 960];
/** Recogniser input widths (its height is 48); the narrowest holds most words, the widest a long line. */
export const RECOGNIZER_WIDTHS: readonly number[] = [160, 320, 640, 1280];
/** Recogniser batch sizes: one line, a paragraph, a page (3.1 ms a line in 32 on an H100). */
export const RECOGNIZER_BATCHES: readonly number[] = [1, 8, 32];
/** Classifier batch sizes (its input is 48×192). */
export const CLASSIFIER_BATCHES: readonly number[] = [1, 4, 16];

/**
 * The smallest bucket at least `value`; beyond the largest, the next multiple of `step` (a shape not
 * warmed: a detector limit above 960, a line wider than 1280 columns pays its compilation once).
 */
export function bucketUp(value: number, buckets: readonly number[], step: number): number {
  for (const bucket of buckets) if (bucket >= value) return bucket;
  return Math.ceil(value / step) * step;
}

/** The padded detector input for a resized image of `width`×`height`. */
export function detectorBucket(width: number, height: number): { width: number; height: number } {
  return { width: bucketUp(width, DETECTOR_SIDES, 480), height: bucketUp(height, DETECTOR_SIDES, 480) };
}

/** The padded recogniser width of a line `width` columns wide. */
export function recognizerWidthBucket(width: number): number {
  return bucketUp(width, RECOGNIZER_WIDTHS, 640);
}

/** The padded batch size of a run of `lines` lines of the recogniser. */
export function recognizerBatchBucket(lines: number): number {
  return bucketUp(lines, RECOGNIZER_BATCHES, 32);
}

/** The padded batch size of a run of `lines` lines of the classifier. */
export function classifierBatchBucket(lines: number): number {
  return bucketUp(lines, CLASSIFIER_BATCHES, 16);
}

/** Every shape of the buckets above, by model role: what a GPU provider warms at load. */
export function servedShapes(role: 'detector' | 'recognizer' | 'classifier'): number[][] {
  if (role === 'detector') {
    return DETECTOR_SIDES.flatMap((height) => DETECTOR_SIDES.map((width) => [1, 3, height, width]));
  }
  if (role === 'recognizer') {
    return RECOGNIZER_BATCHES.flatMap((batch) => RECOGNIZER_WIDTHS.map((width) => [batch, 3, 48, width]));
  }
  return CLASSIFIER_BATCHES.map((batch) => [batch, 3, 48, 192]);
}

/**
 * Copies the top-left `width`×`height` of a `[1, 1, paddedHeight, paddedWidth]` map: the detector's
 * answer for the image, without the bucket's padding.
 */
export function cropMap(map: Float32Array, paddedWidth: number, width: number, height: number): Float32Array {
  if (paddedWidth === width) return map.subarray(0, width * height);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) out.set(map.subarray(y * paddedWidth, y * paddedWidth + width), y * width);
  return out;
}

/**
 * Places a `[1, 3, height, width]` tensor's data in the top-left of a zero `[1, 3, paddedHeight,
 * paddedWidth]` one (zero is the mean colour after normalisation).
 */
export function padPlanes(
  data: Float32Array,
  width: number,
  height: number,
  paddedWidth: number,
  paddedHeight: number,
): Float32Array {
  if (width === paddedWidth && height === paddedHeight) return data;
  const out = new Float32Array(3 * paddedWidth * paddedHeight);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * height + y) * width;
      out.set(data.subarray(from, from + width), (c * paddedHeight + y) * paddedWidth);
    }
  }
  return out;
}
