import { readFile } from 'node:fs/promises';
import type { LoadedModel } from '../core/model-store/types.ts';
import {
  type ModelRunner,
  openOffThreadSession,
  openSessionPool,
  type SessionPool,
} from '../core/off-thread-session.ts';
import { ort } from '../core/onnx.ts';
import { providerOf, sessionConfigFromEnv } from '../core/session.ts';
import { type StageTimings, Stopwatch } from '../core/timings.ts';
import { BatchPolicy } from './batch-policy.ts';
import { cropSize, rotateHalf, rotateQuarter } from './crop.ts';
import { ctcCharset } from './ctc-decode.ts';
import { type DecodedImage, decodeImage } from './decode-image.ts';
import type { Point, Quad } from './geometry.ts';
import { cropMap, detectorBucket, padPlanes } from './gpu-shapes.ts';
import { defaultOcrOptions, type OcrOptions, validated } from './ocr-options.ts';
import { PixelBudget } from './pixel-budget.ts';
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
export { defaultOcrOptions, type OcrOptions } from './ocr-options.ts';
export { PixelBudget } from './pixel-budget.ts';

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

function numbers(value: unknown, fallback: readonly number[]): readonly number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number') ? value : fallback;
}

function number(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function sessionOf(model: LoadedModel, role: string): ort.InferenceSession {
  if (!model.session) throw new Error(`OCR ${role} ${model.manifest.name} has no inference session`);
  return model.session;
}

/** The provider a model's session runs on (`cpu` for a session made elsewhere). */
function providerOfModel(model: LoadedModel): string {
  return providerOf(model.session)?.provider ?? 'cpu';
}

/**
 * The model's session, or with `offThread` and on the CPU provider a copy of it on a worker thread; with
 * `pool` as well, one copy per intra-op thread the configuration allows, each on one thread (see
 * {@link openSessionPool}).
 */
async function runnerOf(
  model: LoadedModel,
  role: string,
  offThread: boolean,
  pool = 1,
): Promise<ModelRunner> {
  const session = sessionOf(model, role);
  const file = model.files.get(model.manifest.variants[model.variant]?.file ?? '');
  if (!offThread || !file || providerOfModel(model) !== 'cpu') return session;
  return pool > 1 ? openSessionPool(file, pool) : openOffThreadSession(file);
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

  /**
   * Settles when every copy of the models is open: the recogniser's pool opens its one-thread copies in the
   * background (see `openSessionPool`), and reads lines one run at a time until then.
   */
  get ready(): Promise<void> {
    const pool = this.recognizer as Partial<SessionPool>;
    return pool.ready ?? Promise.resolve();
  }

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
    /** Whether each model's input shapes are rounded to the GPU buckets (`gpu-shapes.ts`). */
    private readonly buckets: Readonly<Record<'detector' | 'classifier' | 'recognizer', boolean>>,
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
    const onGpu = (model: LoadedModel) => providerOfModel(model) !== 'cpu';
    const settings = validated({
      ...defaultOcrOptions(),
      // A GPU's runs have a large fixed cost: full batches pay (20 ms for one line, 100 ms for 32).
      ...(onGpu(recognizer) && { recBatchSize: 32 }),
      ...options,
    });
    const config = sessionConfigFromEnv();
    // The recogniser's many small runs go side by side, one thread each, where it has a pool (CPU, off thread).
    const recCopies = settings.offThreadInference ? (settings.recognizerCopies ?? config.intraOpThreads) : 1;
    const policyOf = (model: LoadedModel, threads = config.intraOpThreads) =>
      BatchPolicy.forModel(model.manifest.name, providerOfModel(model), threads, model.variant);
    const bucketed = (model: LoadedModel) => settings.shapeBuckets ?? onGpu(model);
    // The classifier stays on this thread: its runs are short (16 lines of 48×192).
    const [detectorRunner, recognizerRunner] = await Promise.all([
      runnerOf(detector, 'detector', settings.offThreadInference),
      runnerOf(recognizer, 'recognizer', settings.offThreadInference, recCopies),
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
      settings.recPolicy ?? policyOf(recognizer, recCopies > 1 ? 1 : undefined),
      settings.clsPolicy ?? policyOf(classifier),
      { detector: bucketed(detector), classifier: bucketed(classifier), recognizer: bucketed(recognizer) },
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
        { policy: this.clsPolicy, maxLines: o.clsBatchSize, buckets: this.buckets.classifier },
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
      { height: this.recHeight, minWidth: o.recMinWidth, buckets: this.buckets.recognizer },
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
    // On a GPU the input is zero-padded to its bucket (warmed at load) and the map cropped back.
    const padded = this.buckets.detector ? detectorBucket(size.width, size.height) : size;
    const input = await watch.time('preprocess', async () => {
      const planes = await detectionTensorInSlices(image, size.width, size.height, this.detMean, this.detStd);
      return new ort.Tensor(
        'float32',
        padPlanes(planes, size.width, size.height, padded.width, padded.height),
        [1, 3, padded.height, padded.width],
      );
    });
    const inputName = this.detector.inputNames[0] as string;
    const outputName = this.detector.outputNames[0] as string;
    const outputs = await watch.time('inference', () => this.detector.run({ [inputName]: input }));
    return watch.timeSync('postprocess', () => {
      const map = outputs[outputName] as ort.Tensor;
      const [, , paddedHeight, paddedWidth] = map.dims as [number, number, number, number];
      // The map has the input's size; where that was padded, only the image's part is read.
      const mapWidth = paddedWidth === padded.width ? size.width : paddedWidth;
      const mapHeight = paddedHeight === padded.height ? size.height : paddedHeight;
      const data = cropMap(map.data as Float32Array, paddedWidth, mapWidth, mapHeight);
      const detection: DetectionOptions = {
        limitSideLen: o.detLimitSideLen,
        limitType: o.detLimitType,
        threshold: o.detThreshold,
        boxThreshold: o.boxThreshold,
        unclipRatio: o.unclipRatio,
        minBoxSize: o.minBoxSize,
        maxCandidates: o.maxCandidates,
      };
      return boxesFromProbabilityMap(data, mapWidth, mapHeight, image.width, image.height, detection);
    });
  }
}
