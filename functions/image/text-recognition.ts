import * as ort from 'onnxruntime-node';
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
 * Reads every line with the CTC recogniser, in batches of lines with similar aspect ratios (sorted, as
 * PaddleOCR does, so little of each batch is padding), one `session.run` per batch. Each line is sampled at
 * the recogniser's height keeping its aspect ratio and zero-padded to the batch width.
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
  for (let begin = 0; begin < order.length; begin += batchSize) {
    const batch = order.slice(begin, begin + batchSize);
    const tensor = watch.timeSync('preprocess', () => {
      let widest = input.minWidth / height;
      for (const i of batch) widest = Math.max(widest, ratios[i] as number);
      const width = Math.trunc(height * widest);
      const data = new Float32Array(batch.length * 3 * height * width);
      batch.forEach((line, index) => {
        const contentWidth = Math.max(1, Math.min(width, Math.ceil(height * (ratios[line] as number))));
        sampleQuad(image, quads[line] as Quad, { tensor: data, index, height, width }, contentWidth);
      });
      return new ort.Tensor('float32', data, [batch.length, 3, height, width]);
    });
    const outputs = await watch.time('inference', () => session.run({ [inputName]: tensor }));
    watch.timeSync('postprocess', () => {
      const output = outputs[outputName] as ort.Tensor;
      const [, steps, classes] = output.dims as [number, number, number];
      const probs = output.data as Float32Array;
      batch.forEach((line, index) => {
        results[line] = ctcGreedyDecode(probs, index, steps, classes, charset);
      });
    });
  }
  return results;
}
