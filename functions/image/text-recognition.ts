import * as ort from 'onnxruntime-node';
import { TimeSlicer } from '../core/event-loop.ts';
import type { ModelRunner } from '../core/off-thread-session.ts';
import type { Stopwatch } from '../core/timings.ts';
import { cropSize, sampleQuad } from './crop.ts';
import { ctcGreedyDecode, type DecodedText } from './ctc-decode.ts';
import type { DecodedImage } from './decode-image.ts';
import type { Quad } from './geometry.ts';

/** Input geometry of the recogniser. */
export interface RecognitionInput {
  /** Line height the recogniser reads (48 for PP-OCRv4). */
  readonly height: number;
  /** Narrowest batch width: PP-OCRv4 was trained on 320-pixel lines and reads shorter ones padded to it. */
  readonly minWidth: number;
}

/**
 * Most input columns (lines × width, at the recogniser's height) of one recogniser run. The output is
 * `[N, width / 8, 6625]` floats, 3.3 KB per column: 6 lines of 1600 columns (aspect ratio 33, a full line of
 * a scanned page) answer 32 MB. Batches of wider lines hold fewer lines, so a page of very long lines cannot
 * make one run allocate hundreds of MB.
 */
export const MAX_BATCH_COLUMNS = 6 * 1600;

/**
 * Reads every line with the CTC recogniser, in batches of lines with similar aspect ratios (sorted, as
 * PaddleOCR does, so little of each batch is padding), one `session.run` per batch of at most `batchSize`
 * lines and {@link MAX_BATCH_COLUMNS} columns. Each line is sampled at the recogniser's height keeping its
 * aspect ratio (a line wider than the whole budget is narrowed to it) and zero-padded to the batch width.
 * Sampling and decoding go a line at a time with yields to the event loop every ~20 ms.
 *
 * @returns one result per quad, in the order of `quads`.
 */
export async function recognizeLines(
  session: ModelRunner,
  image: DecodedImage,
  quads: readonly Quad[],
  charset: readonly string[],
  input: RecognitionInput,
  batchSize: number,
  watch: Stopwatch,
): Promise<DecodedText[]> {
  const results: DecodedText[] = new Array(quads.length);
  const inputName = session.inputNames[0] as string;
  const outputName = session.outputNames[0] as string;
  const { height } = input;
  const ratios = quads.map((q) => {
    const size = cropSize(q);
    return size.width / size.height;
  });
  const order = Array.from(quads.keys()).sort((a, b) => (ratios[a] as number) - (ratios[b] as number));
  const slicer = new TimeSlicer();
  for (const batch of batchesOf(order, ratios, height, input.minWidth, batchSize)) {
    let widest = input.minWidth / height;
    for (const i of batch) widest = Math.max(widest, ratios[i] as number);
    const width = Math.min(Math.trunc(height * widest), MAX_BATCH_COLUMNS);
    const data = new Float32Array(batch.length * 3 * height * width);
    for (const [index, line] of batch.entries()) {
      watch.timeSync('preprocess', () => {
        const contentWidth = Math.max(1, Math.min(width, Math.ceil(height * (ratios[line] as number))));
        sampleQuad(image, quads[line] as Quad, { tensor: data, index, height, width }, contentWidth);
      });
      await slicer.pause();
    }
    const tensor = new ort.Tensor('float32', data, [batch.length, 3, height, width]);
    const outputs = await watch.time('inference', () => session.run({ [inputName]: tensor }));
    const output = outputs[outputName] as ort.Tensor;
    const [, steps, classes] = output.dims as [number, number, number];
    const probs = output.data as Float32Array;
    for (const [index, line] of batch.entries()) {
      results[line] = watch.timeSync('postprocess', () =>
        ctcGreedyDecode(probs, index, steps, classes, charset),
      );
      await slicer.pause();
    }
  }
  return results;
}

/**
 * Cuts lines sorted by aspect ratio into batches of at most `batchSize` lines whose padded width (the
 * widest line's, at least `minWidth`) times their count stays within {@link MAX_BATCH_COLUMNS}; a line
 * wider than that alone is a batch of its own.
 */
function batchesOf(
  order: readonly number[],
  ratios: readonly number[],
  height: number,
  minWidth: number,
  batchSize: number,
): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  for (const line of order) {
    // Sorted by ratio: the line being added is the widest of its batch.
    const width = Math.max(minWidth, Math.trunc(height * (ratios[line] as number)));
    if (
      current.length > 0 &&
      (current.length >= batchSize || (current.length + 1) * width > MAX_BATCH_COLUMNS)
    ) {
      batches.push(current);
      current = [];
    }
    current.push(line);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
