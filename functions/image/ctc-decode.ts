/**
 * Outputs a recogniser may have beside its probabilities (the model repository's do,
 * `scripts/quantize/best-path.ts`): the best class of each step (int64 `[N, T]`) and its probability
 * (`[N, T]`), all that {@link ctcGreedyDecode} reads.
 */
export const BEST_CLASS = 'ctc_best_class';
export const BEST_PROBABILITY = 'ctc_best_probability';

/** Text read from one line and the mean probability of its characters. */
export interface DecodedText {
  readonly text: string;
  readonly confidence: number;
}

/**
 * The recogniser's classes: index 0 is the CTC blank, 1..n the dictionary lines, then a space when the
 * model was trained with one (PP-OCR's `use_space_char`).
 */
export function ctcCharset(dictionary: string, withSpace: boolean): string[] {
  const lines = dictionary.split(/\r?\n/);
  // A trailing newline is not a character of the dictionary.
  if (lines.at(-1) === '') lines.pop();
  return ['', ...lines, ...(withSpace ? [' '] : [])];
}

/**
 * Greedy CTC decoding of one sample of a `[N, T, C]` probability tensor: the best class per step, repeats
 * merged (a repeat counts only when the previous step had the same class, blanks included, as PaddleOCR
 * decodes), blanks dropped. The confidence is the mean of the kept characters' probabilities, 0 when none.
 *
 * `probs` must be a softmax output (each step sums to 1): a class above 0.5 is then the best of its step and
 * the scan stops there. Most steps are blanks (class 0) well above 0.5, so most of the 6625 classes of a
 * PP-OCR step are never read.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  sample: number,
  steps: number,
  classes: number,
  charset: readonly string[],
): DecodedText {
  const best = new Int32Array(steps);
  const probability = new Float32Array(steps);
  const start = sample * steps * classes;
  for (let t = 0; t < steps; t++) {
    const row = start + t * classes;
    let c = 0;
    let p = probs[row] as number;
    for (let k = 1; k < classes && p <= 0.5; k++) {
      const q = probs[row + k] as number;
      if (q > p) {
        p = q;
        c = k;
      }
    }
    best[t] = c;
    probability[t] = p;
  }
  return ctcBestPathDecode(best, probability, 0, steps, charset);
}

/**
 * {@link ctcGreedyDecode} over a recogniser's best-path outputs ({@link BEST_CLASS}, {@link BEST_PROBABILITY}):
 * the same text and confidence, from two numbers a step.
 */
export function ctcBestPathDecode(
  best: BigInt64Array | Int32Array,
  probability: Float32Array,
  sample: number,
  steps: number,
  charset: readonly string[],
): DecodedText {
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  const start = sample * steps;
  for (let t = 0; t < steps; t++) {
    const c = Number(best[start + t]);
    if (c !== 0 && c !== previous) {
      text += charset[c] ?? '';
      sum += probability[start + t] as number;
      kept++;
    }
    previous = c;
  }
  return { text, confidence: kept > 0 ? sum / kept : 0 };
}
