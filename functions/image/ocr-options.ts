/** The OCR pipeline's options: PaddleOCR's defaults, this project's changes to them, and their checks. */
import type { BatchPolicy } from './batch-policy.ts';
import { maxPixelsFromEnv } from './decode-image.ts';

/** Tuning of the pipeline; the defaults are PaddleOCR's (PP-OCRv4, `det_limit_type: max`). */
export interface OcrOptions {
  /** Side limit of the detector input (default 960). Larger reads smaller text, at quadratic cost. */
  readonly detLimitSideLen: number;
  /** Whether the limit caps the longer side (`max`, default) or raises the shorter one (`min`). */
  readonly detLimitType: 'max' | 'min';
  /** Probability above which a detector map pixel is text (default 0.3). */
  readonly detThreshold: number;
  /** Mean probability below which a candidate box is dropped (default 0.6). */
  readonly boxThreshold: number;
  /** How far detected boxes are grown back: distance = area × ratio / perimeter (default 2.2, PaddleOCR 1.5). */
  readonly unclipRatio: number;
  /** Shorter side, in detector map pixels, below which a candidate is noise (default 3). */
  readonly minBoxSize: number;
  /** Most candidate components looked at per image (default 1000). */
  readonly maxCandidates: number;
  /** Whether to classify lines as upright or upside down (default true). */
  readonly useClassifier: boolean;
  /** Probability of 180° above which a line is turned (default 0.9). */
  readonly clsThreshold: number;
  /** Most lines per classifier run (default 16). */
  readonly clsBatchSize: number;
  /**
   * Most lines per recogniser run (default 6, PaddleOCR's, on the CPU; 32 where the recogniser runs on a
   * GPU provider, whose runs cost 20 ms for one line and 100 ms for 32); the batch policy decides below it.
   */
  readonly recBatchSize: number;
  /**
   * Which lines share a recogniser run, and how many a classifier run. Default: the policy of the costs
   * measured for the model, the provider and the thread count (`batch-costs.json`); on two CPU cores
   * that reads recogniser lines one at a time.
   */
  readonly recPolicy?: BatchPolicy;
  readonly clsPolicy?: BatchPolicy;
  /**
   * Narrowest recogniser input, in pixels (default 64). PaddleOCR pads every line to at least 320, the
   * width PP-OCRv4 was trained on; reading short lines at their own width read the benchmark documents
   * as well or better (mean character accuracy 0.9914 at 32, 64, 96, 160 and 0.9795 at 320, the
   * difference on photographed labels) and costs less: a line's run costs about its width.
   */
  readonly recMinWidth: number;
  /** Lines read with a lower confidence are dropped (default 0.5, PaddleOCR's `drop_score`). */
  readonly minConfidence: number;
  /** Largest image accepted, width × height (default `OCR_MAX_PIXELS`, else 40 000 000). */
  readonly maxPixels: number;
  /**
   * Most pixels of decoded images that this pipeline's requests hold at once (default `maxPixels`: one
   * image of the largest size, or several smaller ones); a request that would exceed it waits its turn.
   * Each pixel held costs ~3 bytes decoded plus the decoder's working memory, so this bounds the memory of
   * concurrent large requests (8 concurrent 40-megapixel images peaked at 1.6 GB without it).
   */
  readonly pixelBudget: number;
  /**
   * Whether the detector and the recogniser, where they run on the CPU provider, run on worker threads
   * (copies of their sessions), keeping the event loop free during their runs (~350 ms for a 960×960
   * detection on two cores). Default: yes outside Lambda; on Lambda one request owns the process, so a
   * second copy of the models would only lengthen the cold start. A model on a GPU provider keeps its one
   * session: a second would compile its shaders again.
   */
  readonly offThreadInference: boolean;
  /**
   * Off the main thread on the CPU provider: copies of the recogniser, each on a worker thread with one
   * intra-op thread, that read lines side by side (default: the intra-op thread count, `INFERENCE_THREADS`
   * or the CPUs available). 1 keeps one copy on all the threads.
   */
  readonly recognizerCopies?: number;
  /**
   * Whether input shapes are rounded to the few buckets of `gpu-shapes.ts` (warmed at load, so no request
   * pays shader compilation). Default: for each model, whether it runs on a GPU provider.
   */
  readonly shapeBuckets?: boolean;
}

/** PaddleOCR's defaults, except for a looser unclip ratio (see `unclipRatio`) and the classifier batch. */
export function defaultOcrOptions(env: NodeJS.ProcessEnv = process.env): OcrOptions {
  return {
    detLimitSideLen: 960,
    detLimitType: 'max',
    detThreshold: 0.3,
    boxThreshold: 0.6,
    // PaddleOCR's 1.5 crops so tight that the recogniser drops most spaces between words (16 of 39 rendered
    // lines exact); 2.2 read 38 of 39, and more margin starts to pull in neighbouring lines.
    unclipRatio: 2.2,
    minBoxSize: 3,
    maxCandidates: 1000,
    useClassifier: true,
    clsThreshold: 0.9,
    clsBatchSize: 16,
    recBatchSize: 6,
    recMinWidth: 64,
    minConfidence: 0.5,
    maxPixels: maxPixelsFromEnv(env),
    pixelBudget: maxPixelsFromEnv(env),
    offThreadInference: env.AWS_LAMBDA_FUNCTION_NAME === undefined,
  };
}

/** Refuses settings that would loop forever or read nothing, naming the setting. */
export function validated(options: OcrOptions): OcrOptions {
  const positiveIntegers = [
    'detLimitSideLen',
    'maxCandidates',
    'clsBatchSize',
    'recBatchSize',
    'maxPixels',
    'pixelBudget',
  ] as const;
  for (const key of positiveIntegers) {
    if (!Number.isInteger(options[key]) || options[key] < 1) {
      throw new RangeError(`OCR option ${key} must be a positive integer, got ${options[key]}`);
    }
  }
  const probabilities = ['detThreshold', 'boxThreshold', 'clsThreshold', 'minConfidence'] as const;
  for (const key of probabilities) {
    if (!(options[key] >= 0 && options[key] <= 1)) {
      throw new RangeError(`OCR option ${key} must be between 0 and 1, got ${options[key]}`);
    }
  }
  if (!(options.unclipRatio >= 0) || !(options.minBoxSize >= 0) || !(options.recMinWidth >= 0)) {
    throw new RangeError('OCR options unclipRatio, minBoxSize and recMinWidth must not be negative');
  }
  return options;
}
