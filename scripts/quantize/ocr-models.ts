/**
 * The OCR models' quantized variants: how each is made from the fp32 file, and the choice of the Lambda
 * variant that `npm run quantize` measured (`ocr-variants.json`: the method per model and the
 * calibration ranges the `qdq` method needs, so the model repository builder quantizes at `npm ci` in
 * about a second, without rendering or running anything).
 */
import { readFileSync } from 'node:fs';
import {
  convertFp16,
  type QdqOptions,
  type QuantizationMethod,
  quantizeDynamic,
  quantizeQdq,
  type TensorRange,
} from './quantize.ts';

/** The OCR models by their role in the pipeline. */
export const OCR_MODEL_NAMES = {
  detector: 'ppocr-v4-det',
  classifier: 'ppocr-mobile-v2-cls',
  recognizer: 'ppocr-v4-rec',
} as const;
export type OcrRole = keyof typeof OCR_MODEL_NAMES;

/**
 * What each model's `qdq` variant leaves float: the detector's head (after its feature pyramid's last
 * `Concat`), whose probability map is thresholded at 0.3 — quantized, it cost 0.6 points of character
 * accuracy on the benchmark documents.
 */
export const QDQ_OPTIONS: Readonly<Record<string, QdqOptions>> = {
  'ppocr-v4-det': { floatAfterLast: 'Concat' },
};

/** What `npm run quantize -- --write` stored for one model. */
export interface StoredModelChoice {
  /** The variant `tiers.lambda` serves: a quantization method, or `fp32` where none met the bar. */
  readonly lambda: QuantizationMethod | 'fp32';
  /**
   * The variant a CPU serves without a tier (the manifest's `defaultVariant`): a method that reads as well
   * (within 0.5 points) and runs at most 0.9x fp32's time, or `fp32`.
   */
  readonly cpu: QuantizationMethod | 'fp32';
  /** Activation ranges for the `qdq` method, by tensor name: [min, max]. */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
  /** The Convs the `mixed` method quantizes (`heaviestConvs`), by output name. */
  readonly mixed?: readonly string[];
  /** The measured table the choice came from, for the README. */
  readonly measured: readonly MethodMeasurement[];
}

/** One method's figures for one model. */
export interface MethodMeasurement {
  readonly method: QuantizationMethod | 'fp32';
  readonly bytes: number;
  /** Size against the fp32 file. */
  readonly sizeRatio: number;
  /** Milliseconds of `session.run` over the calibration documents' inputs (fastest of 7 passes). */
  readonly cpuMs: number;
  /** Mean character accuracy (1 − CER) of the pipeline on the benchmark documents with this variant. */
  readonly accuracy: number;
}

/** Stored choices, by model name. */
export type StoredChoices = Record<string, StoredModelChoice>;

/** Where the stored choices live. */
export const CHOICES_FILE = new URL('ocr-variants.json', import.meta.url);

/** The stored choices, or none where `npm run quantize -- --write` has not run. */
export function readChoices(): StoredChoices {
  try {
    return JSON.parse(readFileSync(CHOICES_FILE, 'utf8')) as StoredChoices;
  } catch {
    return {};
  }
}

/** File name of a variant in a model version's folder. */
export function variantFile(method: QuantizationMethod): string {
  return method === 'fp16' ? 'model-fp16.onnx' : `model-int8-${method}.onnx`;
}

/**
 * Rewrites fp32 model bytes with a method; `qdq` and `mixed` need the stored ranges, `mixed` its Convs
 * (`choice.mixed`; the model's `QDQ_OPTIONS` are for `qdq`: `mixed` names what it quantizes).
 */
export function applyMethod(
  bytes: Uint8Array,
  method: QuantizationMethod,
  choice: Pick<StoredModelChoice, 'ranges' | 'mixed'> = { ranges: {} },
  options: QdqOptions = {},
): Uint8Array {
  if (method === 'dynamic') return quantizeDynamic(bytes);
  if (method === 'fp16') return convertFp16(bytes);
  const map = new Map<string, TensorRange>(
    Object.entries(choice.ranges).map(([name, [min, max]]) => [name, { min, max }]),
  );
  if (map.size === 0) throw new Error(`the ${method} method needs calibration ranges`);
  if (method === 'mixed') {
    if (!choice.mixed?.length) throw new Error('the mixed method needs the Convs it quantizes');
    return quantizeQdq(bytes, map, { include: choice.mixed });
  }
  return quantizeQdq(bytes, map, options);
}
