import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../core/model-store/types.ts';
import { type ModelRunner, openOffThreadSession } from '../core/off-thread-session.ts';
import { effectiveProvider, sessionConfigFromEnv } from '../core/session.ts';
import { type StageTimings, Stopwatch } from '../core/timings.ts';
import { BatchPolicy } from './batch-policy.ts';
import { cropSize, rotateHalf, rotateQuarter } from './crop.ts';
import { ctcCharset } from './ctc-decode.ts';
import { type DecodedImage, decodeImage, maxPixelsFromEnv } from './decode-image.ts';
import type { Point, Quad } from './geometry.ts';
import { readingOrder } from './reading-order.ts';
import {
  boxesFromProbabilityMap,
  type DetectionOptions,
  detectionInputSize,
  detectionTensorInSlices,
} from './text-detection.ts';
import { decideOrientation, upsideDownProbabilities } from './text-orientation.ts';
import { recognizeLines } from './text-recognition.ts';

export type { Point } from './geometry.ts';

/** The three models of the OCR pipeline, loaded. */
export interface OcrModels {
  readonly detector: LoadedModel;
  readonly classifier: LoadedModel;
  readonly recognizer: LoadedModel;
}

/** One line of text found in the image. */
export interface OcrLine {
  readonly text: string;
  /** Mean probability of the line's characters, 0..1. */
  readonly confidence: number;
  /** Corners clockwise from the top-left of the text (on an upside-down line, the image's bottom-right). */
  readonly box: [Point, Point, Point, Point];
}

/** What the pipeline read from one image. */
export interface OcrResult {
  /** Size of the decoded, upright image the boxes refer to. */
  readonly width: number;
  readonly height: number;
  /** Lines in reading order. */
  readonly lines: OcrLine[];
  /** The lines' texts in reading order, joined by `\n`. */
  readonly text: string;
  readonly timings: StageTimings;
}

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
  /** Most lines per recogniser run (default 6, PaddleOCR's); the batch policy decides below that. */
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
   * Whether the detector and the recogniser run on worker threads (copies of their sessions), keeping the
   * event loop free during their runs (~350 ms for a 960×960 detection on two cores). Default: yes on the
   * CPU provider outside Lambda; on Lambda one request owns the process, so a second copy of the models
   * would only lengthen the cold start.
   */
  readonly offThreadInference: boolean;
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
    offThreadInference:
      env.AWS_LAMBDA_FUNCTION_NAME === undefined && sessionConfigFromEnv(env).executionProvider === 'cpu',
  };
}

function numbers(value: unknown, fallback: readonly number[]): readonly number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number') ? value : fallback;
}

function number(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** Refuses settings that would loop forever or read nothing, naming the setting. */
function validated(options: OcrOptions): OcrOptions {
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

/**
 * A counting semaphore over pixels, first come first served: {@link PixelBudget.acquire} waits until the
 * pixels are free. A request larger than the whole budget waits until it has the budget to itself.
 */
export class PixelBudget {
  private available: number;
  private readonly waiting: { readonly pixels: number; readonly admit: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Pixels held now. */
  get held(): number {
    return this.capacity - this.available;
  }

  /** Takes `pixels` (at most the capacity) once they are free; resolves to the function that gives them back. */
  async acquire(pixels: number): Promise<() => void> {
    const wanted = Math.min(pixels, this.capacity);
    // Behind anyone already waiting, so a stream of small images cannot starve a large one.
    if (this.waiting.length === 0 && wanted <= this.available) this.available -= wanted;
    else await new Promise<void>((admit) => this.waiting.push({ pixels: wanted, admit }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += wanted;
      this.admitWaiting();
    };
  }

  private admitWaiting(): void {
    for (let next = this.waiting[0]; next && next.pixels <= this.available; next = this.waiting[0]) {
      this.waiting.shift();
      this.available -= next.pixels;
      next.admit();
    }
  }
}

function sessionOf(model: LoadedModel, role: string): ort.InferenceSession {
  if (!model.session) throw new Error(`OCR ${role} ${model.manifest.name} has no inference session`);
  return model.session;
}

/** The model's session, or with `offThread` a copy of it on a worker thread. */
async function runnerOf(model: LoadedModel, role: string, offThread: boolean): Promise<ModelRunner> {
  const session = sessionOf(model, role);
  const file = model.files.get(model.manifest.variants[model.variant]?.file ?? '');
  return offThread && file ? openOffThreadSession(file) : session;
}

/**
 * PP-OCR text recognition: detection (DB), orientation classification and CTC recognition, with the
 * pre- and post-processing done on typed arrays in this process (no OpenCV).
 *
 * @example
 * ```ts
 * const ocr = await OcrPipeline.create({ detector, classifier, recognizer });
 * const { text, lines } = await ocr.run(pngBytes);
 * ```
 */
export class OcrPipeline {
  /** Pixels of the images this pipeline is reading now; see {@link OcrOptions.pixelBudget}. */
  readonly pixels: PixelBudget;

  private constructor(
    private readonly detector: ModelRunner,
    private readonly classifier: ort.InferenceSession,
    private readonly recognizer: ModelRunner,
    private readonly charset: readonly string[],
    private readonly options: OcrOptions,
    private readonly detMean: readonly number[],
    private readonly detStd: readonly number[],
    private readonly clsInput: { readonly height: number; readonly width: number },
    private readonly recHeight: number,
    private readonly recPolicy: BatchPolicy,
    private readonly clsPolicy: BatchPolicy,
  ) {
    this.pixels = new PixelBudget(options.pixelBudget);
  }

  /**
   * Builds a pipeline over loaded models; reads the recogniser's dictionary from its files.
   *
   * @throws {RangeError} an option out of range (a batch size of 0, a threshold above 1, …).
   */
  static async create(models: OcrModels, options: Partial<OcrOptions> = {}): Promise<OcrPipeline> {
    const { detector, classifier, recognizer } = models;
    const recParams = recognizer.manifest.parameters ?? {};
    const dictionaryName = recParams.dictionary;
    if (typeof dictionaryName !== 'string') {
      throw new Error(`recogniser ${recognizer.manifest.name} declares no dictionary parameter`);
    }
    const dictionaryPath = recognizer.files.get(dictionaryName);
    if (!dictionaryPath) {
      throw new Error(
        `recogniser ${recognizer.manifest.name} dictionary ${dictionaryName} is not among its files`,
      );
    }
    const charset = ctcCharset(await readFile(dictionaryPath, 'utf8'), recParams.useSpaceChar !== false);
    const detParams = detector.manifest.parameters ?? {};
    const clsParams = classifier.manifest.parameters ?? {};
    const settings = validated({ ...defaultOcrOptions(), ...options });
    const config = sessionConfigFromEnv();
    const policyOf = (model: LoadedModel) =>
      BatchPolicy.forModel(
        model.manifest.name,
        effectiveProvider(config),
        config.intraOpThreads,
        model.variant,
      );
    // The classifier stays on this thread: its runs are short (16 lines of 48×192).
    const [detectorRunner, recognizerRunner] = await Promise.all([
      runnerOf(detector, 'detector', settings.offThreadInference),
      runnerOf(recognizer, 'recognizer', settings.offThreadInference),
    ]);
    return new OcrPipeline(
      detectorRunner,
      sessionOf(classifier, 'classifier'),
      recognizerRunner,
      charset,
      settings,
      numbers(detParams.mean, [0.485, 0.456, 0.406]),
      numbers(detParams.std, [0.229, 0.224, 0.225]),
      { height: number(clsParams.height, 48), width: number(clsParams.width, 192) },
      number(recParams.height, 48),
      settings.recPolicy ?? policyOf(recognizer),
      settings.clsPolicy ?? policyOf(classifier),
    );
  }

  /**
   * Reads the text of one image: encoded bytes (PNG, JPEG or WebP) or an image already decoded.
   *
   * @throws the errors of {@link decodeImage} for bytes that are not an acceptable image.
   */
  async run(image: Uint8Array | DecodedImage): Promise<OcrResult> {
    const watch = new Stopwatch();
    let release: (() => void) | undefined;
    try {
      const decoded =
        image instanceof Uint8Array
          ? await watch.time('decode', () =>
              decodeImage(image, {
                maxPixels: this.options.maxPixels,
                // Held until the result is out: the decoded pixels live as long as the run.
                admit: async (width, height) => {
                  release = await this.pixels.acquire(width * height);
                },
              }),
            )
          : image;
      return await this.read(decoded, watch);
    } finally {
      release?.();
    }
  }

  private async read(decoded: DecodedImage, watch: Stopwatch): Promise<OcrResult> {
    const o = this.options;

    let quads = await this.detect(decoded, watch);
    let pageUpsideDown = false;
    watch.timeSync('preprocess', () => {
      // PaddleOCR reads tall crops as text running bottom to top.
      quads = quads.map((q) => {
        const size = cropSize(q);
        return size.height / size.width >= 1.5 ? rotateQuarter(q) : q;
      });
    });
    if (o.useClassifier && quads.length > 0) {
      const upsideDown = await upsideDownProbabilities(
        this.classifier,
        decoded,
        quads,
        this.clsInput,
        { policy: this.clsPolicy, maxLines: o.clsBatchSize },
        watch,
      );
      watch.timeSync('postprocess', () => {
        const decision = decideOrientation(upsideDown, o.clsThreshold);
        pageUpsideDown = decision.pageUpsideDown;
        quads = quads.map((q, i) => (decision.flip[i] ? rotateHalf(q) : q));
      });
    }
    const read = await recognizeLines(
      this.recognizer,
      decoded,
      quads,
      this.charset,
      { height: this.recHeight, minWidth: o.recMinWidth },
      { policy: this.recPolicy, maxLines: o.recBatchSize },
      watch,
    );

    const { lines, text } = watch.timeSync('postprocess', () => {
      const kept: number[] = [];
      read.forEach((r, i) => {
        if (r.confidence >= o.minConfidence && r.text.trim() !== '') kept.push(i);
      });
      const rows = readingOrder(
        kept.map((i) => quads[i] as Quad),
        { width: decoded.width, height: decoded.height, upsideDown: pageUpsideDown },
      );
      const ordered: OcrLine[] = rows.flat().map((k) => {
        const i = kept[k] as number;
        const r = read[i] as (typeof read)[number];
        const quad = quads[i] as Quad;
        return {
          text: r.text.trim(),
          confidence: r.confidence,
          box: quad.map(([x, y]): Point => [x, y]) as OcrLine['box'],
        };
      });
      return { lines: ordered, text: ordered.map((l) => l.text).join('\n') };
    });
    return { width: decoded.width, height: decoded.height, lines, text, timings: watch.read() };
  }

  private async detect(image: DecodedImage, watch: Stopwatch): Promise<Quad[]> {
    const o = this.options;
    const size = detectionInputSize(image.width, image.height, {
      limitSideLen: o.detLimitSideLen,
      limitType: o.detLimitType,
    });
    const input = await watch.time(
      'preprocess',
      async () =>
        new ort.Tensor(
          'float32',
          await detectionTensorInSlices(image, size.width, size.height, this.detMean, this.detStd),
          [1, 3, size.height, size.width],
        ),
    );
    const inputName = this.detector.inputNames[0] as string;
    const outputName = this.detector.outputNames[0] as string;
    const outputs = await watch.time('inference', () => this.detector.run({ [inputName]: input }));
    return watch.timeSync('postprocess', () => {
      const map = outputs[outputName] as ort.Tensor;
      const [, , mapHeight, mapWidth] = map.dims as [number, number, number, number];
      const detection: DetectionOptions = {
        limitSideLen: o.detLimitSideLen,
        limitType: o.detLimitType,
        threshold: o.detThreshold,
        boxThreshold: o.boxThreshold,
        unclipRatio: o.unclipRatio,
        minBoxSize: o.minBoxSize,
        maxCandidates: o.maxCandidates,
      };
      return boxesFromProbabilityMap(
        map.data as Float32Array,
        mapWidth,
        mapHeight,
        image.width,
        image.height,
        detection,
      );
    });
  }
}
