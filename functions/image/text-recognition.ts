import { TimeSlicer } from '../core/event-loop.ts';
import type { ModelRunner } from '../core/off-thread-session.ts';
import { ort } from '../core/onnx.ts';
import type { Stopwatch } from '../core/timings.ts';
import type { BatchPolicy } from './batch-policy.ts';
import { cropSize, sampleQuad } from './crop.ts';
import {
  BEST_CLASS,
  BEST_PROBABILITY,
  ctcBestPathDecode,
  ctcGreedyDecode,
  type DecodedText,
} from './ctc-decode.ts';
import type { DecodedImage } from './decode-image.ts';
import type { Quad } from './geometry.ts';
import { recognizerBatchBucket, recognizerWidthBucket } from './gpu-shapes.ts';

/** Input geometry of the recogniser. */
export interface RecognitionInput {
  /** Line height the recogniser reads (48 for PP-OCRv4). */
  readonly height: number;
  /** Narrowest run width: shorter lines are zero-padded to it. */
  readonly minWidth: number;
  /** Round widths and batch sizes to the GPU buckets of `gpu-shapes.ts` (warmed at load), zero-padded. */
  readonly buckets?: boolean;
}

/**
 * Most input columns (lines × width, at the recogniser's height) of one recogniser run. The output is
 * `[N, width / 8, 6625]` floats, 3.3 KB per column: 6 lines of 1600 columns (aspect ratio 33, a full line of
 * a scanned page) answer 32 MB. Batches of wider lines hold fewer lines, so a page of very long lines cannot
 * make one run allocate hundreds of MB.
 */
export const MAX_BATCH_COLUMNS = 6 * 1600;

/** Recogniser input widths are rounded up to a multiple of this: few distinct shapes, little padding. */
export const WIDTH_BUCKET = 32;

/** How lines are grouped into recogniser runs. */
export interface RecognitionBatching {
  /** Decides which lines share a run, from measured run costs. */
  readonly policy: BatchPolicy;
  /** Most lines in one run. */
  readonly maxLines: number;
}

/**
 * The width a line is read at: its own width at the recogniser's height, rounded up to the next
 * {@link WIDTH_BUCKET} (with `input.buckets`, to the next GPU bucket), at least `minWidth` and at most
 * {@link MAX_BATCH_COLUMNS}.
 */
export function bucketWidth(ratio: number, input: RecognitionInput): number {
  const own = Math.ceil(input.height * ratio);
  const bucketed = input.buckets
    ? recognizerWidthBucket(Math.max(own, input.minWidth))
    : Math.ceil(own / WIDTH_BUCKET) * WIDTH_BUCKET;
  return Math.min(Math.max(input.minWidth, bucketed), MAX_BATCH_COLUMNS);
}

/**
 * Reads every line with the CTC recogniser. Each line's width is rounded up to its bucket
 * ({@link bucketWidth}); the batch policy groups lines sorted by width into runs where its measured costs
 * say one run is cheaper than several (on two CPU cores: one line a run), each run padded only to its
 * widest bucket and holding at most `maxLines` lines and {@link MAX_BATCH_COLUMNS} columns. Each line is
 * sampled at the recogniser's height keeping its aspect ratio (a line wider than the whole budget is
 * narrowed to it) and zero-padded to the run's width. Sampling and decoding go a line at a time with
 * yields to the event loop every ~20 ms.
 *
 * @returns one result per quad, in the order of `quads`.
 */
export async function recognizeLines(
  session: ModelRunner,
  image: DecodedImage,
  quads: readonly Quad[],
  charset: readonly string[],
  input: RecognitionInput,
  batching: RecognitionBatching,
  watch: Stopwatch,
): Promise<DecodedText[]> {
  const results: DecodedText[] = new Array(quads.length);
  const inputName = session.inputNames[0] as string;
  const outputName = session.outputNames[0] as string;
  // Where the recogniser answers the best class of each step, only that crosses from onnxruntime.
  const bestPath = session.outputNames.includes(BEST_CLASS) && session.outputNames.includes(BEST_PROBABILITY);
  const { height } = input;
  const ratios = quads.map((q) => {
    const size = cropSize(q);
    return size.width / size.height;
  });
  const widths = ratios.map((r) => bucketWidth(r, input));
  // No more lines than copies side by side: each its own run, on its own thread, ends sooner than one batch
  // on all threads (int8, 2 cores: two lines of 480 columns 12.4 ms side by side, 14.9 ms as one run).
  const lanes = session.parallelism ?? 1;
  const runs =
    lanes > 1 && widths.length > 1 && widths.length <= lanes
      ? widths.map((width, line) => ({ lines: [line], width }))
      : batching.policy.plan(widths, { maxLines: batching.maxLines, maxColumns: MAX_BATCH_COLUMNS });
  const slicer = new TimeSlicer();
  const readRun = async ({ lines: batch, width }: (typeof runs)[number]): Promise<void> => {
    // Padding lines of a GPU batch bucket stay zero; their outputs are not read.
    const rows = input.buckets ? recognizerBatchBucket(batch.length) : batch.length;
    const data = new Float32Array(rows * 3 * height * width);
    for (const [index, line] of batch.entries()) {
      watch.timeSync('preprocess', () => {
        const contentWidth = Math.max(1, Math.min(width, Math.ceil(height * (ratios[line] as number))));
        sampleQuad(image, quads[line] as Quad, { tensor: data, index, height, width }, contentWidth);
      });
      await slicer.pause();
    }
    const tensor = new ort.Tensor('float32', data, [rows, 3, height, width]);
    const feeds = { [inputName]: tensor };
    const fetches = bestPath ? [BEST_CLASS, BEST_PROBABILITY] : undefined;
    const outputs = await watch.time('inference', () => {
      if (runs.length === 1 && session.runAlone) return session.runAlone(feeds, fetches);
      return fetches ? session.run(feeds, fetches) : session.run(feeds);
    });
    const decode = bestPath
      ? bestPathDecoder(outputs)
      : probabilityDecoder(outputs[outputName] as ort.Tensor);
    for (const [index, line] of batch.entries()) {
      results[line] = watch.timeSync('postprocess', () => decode(index, charset));
      await slicer.pause();
    }
  };
  // A runner that carries several runs at once (a pool of sessions) is kept that busy: the next run's
  // lines are sampled while the others are read. The largest runs go first, so that the last to finish
  // is a small one rather than a wide line started when the other copies were nearly done.
  const largestFirst = [...runs].sort((a, b) => b.width * b.lines.length - a.width * a.lines.length);
  await inParallel(largestFirst, session.parallelism ?? 1, readRun);
  return results;
}

/** Calls `work` on each item, at most `limit` at once, in order of the items; rejects on the first failure. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

type LineDecoder = (sample: number, charset: readonly string[]) => DecodedText;

/** Decodes lines of a `[N, T, C]` probability output. */
function probabilityDecoder(output: ort.Tensor): LineDecoder {
  const [, steps, classes] = output.dims as [number, number, number];
  const probs = output.data as Float32Array;
  return (sample, charset) => ctcGreedyDecode(probs, sample, steps, classes, charset);
}

/** Decodes lines of the best-path outputs (`[N, T]` each). */
function bestPathDecoder(outputs: Record<string, ort.Tensor>): LineDecoder {
  const best = outputs[BEST_CLASS] as ort.Tensor;
  const probability = outputs[BEST_PROBABILITY] as ort.Tensor;
  const [, steps] = best.dims as [number, number];
  return (sample, charset) =>
    ctcBestPathDecode(best.data as BigInt64Array, probability.data as Float32Array, sample, steps, charset);
}
