import { ort } from '../core/onnx.ts';
import type { Stopwatch } from '../core/timings.ts';
import type { BatchPolicy } from './batch-policy.ts';
import { cropSize, sampleQuad } from './crop.ts';
import type { DecodedImage } from './decode-image.ts';
import type { Quad } from './geometry.ts';
import { classifierBatchBucket } from './gpu-shapes.ts';

/** Input size of the PP-OCR orientation classifier. */
export interface OrientationInput {
  readonly height: number;
  readonly width: number;
}

/**
 * Probability that each line is upside down, from the 0°/180° classifier. Lines are sampled at the
 * classifier's height keeping their aspect ratio, squeezed to at most its width and zero-padded on the right
 * (the classifier answers wrongly when lines are stretched to fill it). Every input has the same width, so
 * the batch policy only chooses how many lines share a run (on two CPU cores batches pay a little here:
 * 1.3 ms for one line, 0.9 ms a line in 16), at most `batching.maxLines`; with `batching.buckets` a run is
 * zero-padded to a GPU batch bucket.
 */
export async function upsideDownProbabilities(
  session: ort.InferenceSession,
  image: DecodedImage,
  quads: readonly Quad[],
  input: OrientationInput,
  batching: { readonly policy: BatchPolicy; readonly maxLines: number; readonly buckets?: boolean },
  watch: Stopwatch,
): Promise<Float32Array> {
  const result = new Float32Array(quads.length);
  const inputName = session.inputNames[0] as string;
  const outputName = session.outputNames[0] as string;
  const { height, width } = input;
  const runs = batching.policy.plan(
    quads.map(() => width),
    { maxLines: batching.maxLines, maxColumns: Number.POSITIVE_INFINITY },
  );
  for (const { lines } of runs) {
    // On a GPU the batch is padded to its bucket (warmed at load); the padding lines' answers are not read.
    const count = batching.buckets ? classifierBatchBucket(lines.length) : lines.length;
    const tensor = watch.timeSync('preprocess', () => {
      const data = new Float32Array(count * 3 * height * width);
      for (const [i, line] of lines.entries()) {
        const quad = quads[line] as Quad;
        const crop = cropSize(quad);
        const contentWidth = Math.min(width, Math.ceil((height * crop.width) / crop.height));
        sampleQuad(image, quad, { tensor: data, index: i, height, width }, contentWidth);
      }
      return new ort.Tensor('float32', data, [count, 3, height, width]);
    });
    const outputs = await watch.time('inference', () => session.run({ [inputName]: tensor }));
    const probs = outputs[outputName]?.data as Float32Array;
    for (const [i, line] of lines.entries()) result[line] = probs[i * 2 + 1] as number;
  }
  return result;
}

/** Which lines to turn half a turn, and whether the page as a whole is upside down. */
export interface OrientationDecision {
  readonly pageUpsideDown: boolean;
  readonly flip: boolean[];
}

/**
 * Decides line orientations. PaddleOCR turns a line only when the classifier says 180° with more than
 * `threshold`. When most lines of a page are upside down the whole page is, and then the same threshold
 * applies the other way: a line stays as it is only when the classifier is that sure it is upright. This
 * keeps short, ambiguous lines (digits, "ooo") consistent with the page.
 */
export function decideOrientation(upsideDown: Float32Array, threshold: number): OrientationDecision {
  let votes = 0;
  for (const p of upsideDown) if (p > 0.5) votes++;
  const pageUpsideDown = votes * 2 > upsideDown.length;
  const flip = Array.from(upsideDown, (p) => (pageUpsideDown ? 1 - p <= threshold : p > threshold));
  return { pageUpsideDown, flip };
}
