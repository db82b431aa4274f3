/**
 * `npm run quantize`: quantizes ONNX models in TypeScript (scripts/quantize/) and measures the OCR
 * models' variants. See `npm run quantize -- --help`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { benchImages, characterAccuracy, photographed } from '../bench/ocr-images.ts';
import { parseManifest } from '../functions/core/model-store/manifest.ts';
import type { LoadedModel } from '../functions/core/model-store/types.ts';
import { sessionOptions as cpuSessionOptions } from '../functions/core/session.ts';
import { OcrPipeline } from '../functions/image/ocr-pipeline.ts';
import { renderText, stackLines } from '../test/support/render-text.ts';
import { OCR_VERSION } from './models/ocr.ts';
import { BEST_CLASS } from './quantize/best-path.ts';
import { calibrate, heaviestConvs } from './quantize/calibration.ts';
import { cpuFoldedOf } from './quantize/cpu-fold.ts';
import {
  applyMethod,
  CHOICES_FILE,
  type MethodMeasurement,
  OCR_MODEL_NAMES,
  type OcrRole,
  QDQ_OPTIONS,
  readChoices,
  type StoredChoices,
} from './quantize/ocr-models.ts';
import {
  convertFp16,
  METHODS,
  type QuantizationMethod,
  qdqActivations,
  quantizeDynamic,
} from './quantize/quantize.ts';
import { graphFor, type ServedGraphs, servedGraphs } from './quantize/served-graphs.ts';

const HELP = `npm run quantize -- [options]

Quantizes ONNX models with a TypeScript rewriter over onnx-proto (scripts/quantize/quantize.ts).

Methods:
  dynamic  int8 weights (per channel), activations quantized at run time:
           DynamicQuantizeLinear + MatMulInteger / ConvInteger, products scaled back by Mul.
  qdq      static int8 in QDQ form: QuantizeLinear/DequantizeLinear around Conv and MatMul,
           activation ranges from calibration on rendered documents, int8 weights per channel,
           int32 Conv biases. onnxruntime fuses the groups into QLinearConv at session creation.
           Hard-sigmoids and scalar affines between them stay in uint8 (QLinearAdd, QLinearMul and
           re-scaled QuantizeLinear; scripts/quantize/integer-activations.ts).
  mixed    qdq for the Convs that each do at least a tenth of the model's multiply-adds (measured on a
           calibration input), the rest of the fp32 graph float: the detector's two 3x3 Convs at a
           quarter resolution in int8, its accuracy unchanged.
  fp16     weights stored as float16 and Cast to float32 where read: half the size, fp32 compute.

And one rewrite that is not a quantization, for --input:
  fold     the CPU form of a float graph (scripts/quantize/cpu-fold.ts): scalar Mul/Add chains around
           Convs folded into their weights, hard-swish (x * Clip(x+3, 0, 6) / 6) as x * HardSigmoid(x).
           Same outputs within float rounding; the OCR models' fp32 files are their packages' graphs so
           folded (0.67-0.85x the CPU time). dynamic and qdq rewrite the OCR graphs folded without
           depthwise affines, mixed and fp16 the fp32 files.

Without --input: the OCR models of models/ (detector, classifier, recogniser). Calibrates on 5 rendered
documents, 2 of them photographed-looking (not the benchmark's), then prints per model and method: file size, CPU latency (session.run
over the calibration documents' inputs) and character accuracy of the pipeline on the benchmark documents
(npm run bench's set) against fp32. The Lambda choice per model is the smallest method that loses at most
0.5 points of character accuracy, is at most 0.6x the fp32 size and at most 1.1x as slow (fastest
of 7 passes); else fp32 (the classifier stays fp32 there: 0.58 MB). The CPU default per model (the
manifest's defaultVariant, served without MODEL_TIER) is the fastest method that loses at most 0.5 points
and takes at most 0.9x fp32's time; else fp32.

Options:
  --models LIST     roles to measure (default detector,classifier,recognizer)
  --methods LIST    methods to measure (default dynamic,qdq,fp16)
  --write           store the choices and qdq ranges in scripts/quantize/ocr-variants.json,
                    which npm run models:build reads
  --input FILE      rewrite one model file instead (methods dynamic, fp16 and fold: qdq and mixed need calibration)
  --method NAME     with --input: the method
  --output FILE     with --input: where to write the result
  --help            this text`;

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'detector,classifier,recognizer' },
    methods: { type: 'string', default: METHODS.join(',') },
    write: { type: 'boolean', default: false },
    input: { type: 'string' },
    method: { type: 'string' },
    output: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(HELP);
  process.exit(0);
}

if (values.input) {
  const rewrites: Record<string, (bytes: Uint8Array) => Uint8Array> = {
    dynamic: quantizeDynamic,
    fp16: convertFp16,
    fold: (bytes) => {
      const { bytes: out, report } = cpuFoldedOf(bytes);
      console.log(`folded: ${JSON.stringify(report)}`);
      return out;
    },
  };
  const rewrite = rewrites[values.method ?? ''];
  if (!values.output || !rewrite) {
    console.error(
      '--input needs --output and --method dynamic, fp16 or fold (qdq and mixed need calibration; see --help)',
    );
    process.exit(1);
  }
  const bytes = new Uint8Array(await readFile(values.input));
  const out = rewrite(bytes);
  await writeFile(values.output, out);
  console.log(
    `${values.output}: ${out.length} bytes (${((out.length / bytes.length) * 100).toFixed(1)}% of ${bytes.length})`,
  );
  process.exit(0);
}

const roles = values.models.split(',') as OcrRole[];
const methods = values.methods.split(',') as QuantizationMethod[];
for (const m of methods)
  if (!METHODS.includes(m)) throw new Error(`unknown method ${m}: one of ${METHODS.join(', ')}`);
const threads = availableParallelism();
// The options the functions run with (no spinning pool threads: with them, each session's idle threads
// took the CPU from the next one measured).
const sessionOptions = cpuSessionOptions({ intraOpThreads: threads }, 'cpu');

interface Fp32Model {
  readonly model: LoadedModel;
  readonly bytes: Uint8Array;
  /** The graphs made from the package's, as the repository builder makes them (`graphFor` per method). */
  readonly graphs: ServedGraphs;
}

async function loadFp32(name: string): Promise<Fp32Model> {
  const dir = resolve('models', name, OCR_VERSION);
  const manifest = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), name);
  const files = new Map(manifest.files.map((f) => [f.path, join(dir, f.path)]));
  const bytes = new Uint8Array(await readFile(join(dir, 'model.onnx')));
  const source = manifest.source;
  if (!source?.files[0]) throw new Error(`${name}: the manifest names no source graph`);
  const original = new Uint8Array(await readFile(join('node_modules', source.package, source.files[0])));
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  return {
    model: { manifest, variant: 'fp32', files, session, loadMs: 0 },
    bytes,
    graphs: servedGraphs(original, { bestPath: manifest.outputs.some((o) => o.name === BEST_CLASS) }),
  };
}

const fp32 = {} as Record<OcrRole, Fp32Model>;
for (const role of Object.keys(OCR_MODEL_NAMES) as OcrRole[])
  fp32[role] = await loadFp32(OCR_MODEL_NAMES[role]);

// Calibration documents: rendered clean and photographed-looking (the traffic is both), with other texts
// than the benchmark's, so accuracy is not measured on what the ranges were fitted to.
const calibrationTexts = [
  ['grocery 22 park road', 'bread 1.80', 'cheese 4.25', 'total 6.05'],
  ['meeting notes 14 march', 'agenda review and budget', 'next steps by friday 2027'],
  ['warehouse shelf b7', 'handle with gloves'],
];
const calibrationImages = [
  ...(await Promise.all(
    calibrationTexts.map((texts, i) =>
      renderText({
        width: 560 + i * 120,
        height: 60 + texts.length * 48,
        format: i === 1 ? 'jpeg' : 'png',
        lines: stackLines(texts.map((text) => ({ text, fontSize: 26 + i * 3 }))),
      }),
    ),
  )),
  await photographed(
    540,
    220,
    ['parcel 88 to dock 3', 'fragile glass 2027'].map((text) => ({ text, fontSize: 28 })),
    { seed: 5, angle: -2, blur: 0.7 },
  ),
  await photographed(
    420,
    180,
    ['open daily 8 to 18', 'call 0412 555 019'].map((text) => ({ text, fontSize: 26 })),
    { seed: 9, angle: 1, blur: 0.6 },
  ),
];

/** A model whose session records the feeds it is given. */
function recording(model: LoadedModel, into: Record<string, ort.Tensor>[]): LoadedModel {
  const session = model.session as ort.InferenceSession;
  const proxy = new Proxy(session, {
    get: (target, key) => {
      if (key === 'run') {
        return (feeds: Record<string, ort.Tensor>) => {
          into.push(feeds);
          return target.run(feeds);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...model, session: proxy };
}

const feeds = { detector: [], classifier: [], recognizer: [] } as Record<
  OcrRole,
  Record<string, ort.Tensor>[]
>;
{
  const pipeline = await OcrPipeline.create(
    {
      detector: recording(fp32.detector.model, feeds.detector),
      classifier: recording(fp32.classifier.model, feeds.classifier),
      recognizer: recording(fp32.recognizer.model, feeds.recognizer),
    },
    { offThreadInference: false },
  );
  for (const image of calibrationImages) await pipeline.run(image);
}

const bench = await benchImages();

async function accuracyWith(replace: Partial<Record<OcrRole, LoadedModel>>): Promise<number> {
  const pipeline = await OcrPipeline.create(
    {
      detector: replace.detector ?? fp32.detector.model,
      classifier: replace.classifier ?? fp32.classifier.model,
      recognizer: replace.recognizer ?? fp32.recognizer.model,
    },
    { offThreadInference: false },
  );
  let sum = 0;
  for (const image of bench) {
    const result = await pipeline.run(image.bytes);
    sum += characterAccuracy(
      image.lines,
      result.lines.map((l) => l.text),
    );
  }
  return sum / bench.length;
}

/**
 * Milliseconds of `session.run` over the inputs, per session: passes through every session in turn, so
 * other work on the machine spreads over all of them; the fastest pass of each (the one least disturbed
 * by other work: medians on the shared 2-core machine moved by 30% from run to run).
 */
async function cpuMs(
  sessions: readonly ort.InferenceSession[],
  inputs: Record<string, ort.Tensor>[],
): Promise<number[]> {
  const passes: number[][] = sessions.map(() => []);
  for (let pass = -1; pass < 7; pass++) {
    for (const [i, session] of sessions.entries()) {
      const t0 = performance.now();
      for (const feed of inputs) await session.run(feed);
      if (pass >= 0) passes[i]?.push(performance.now() - t0);
    }
  }
  return passes.map((p) => Math.min(...p));
}

console.log(
  `threads ${threads}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; calibration: ${calibrationImages.length} documents`,
);
const baseAccuracy = await accuracyWith({});
const chosenSessions: Partial<Record<OcrRole, ort.InferenceSession>> = {};

/**
 * The Lambda variant: the smallest method that loses at most 0.5 points of character accuracy, is at
 * most 0.6x the fp32 size, and is at most 1.1x as slow as fp32 (a method slower per request costs more
 * than its smaller download saves once); else fp32. The classifier is not quantized: its file is 0.58 MB,
 * int8 ran it 1.5-2.8x slower and fp16 saves 0.27 MB.
 */
function choiceOf(rows: readonly MethodMeasurement[], role: OcrRole): QuantizationMethod | 'fp32' {
  const [base] = rows;
  if (!base || role === 'classifier') return 'fp32';
  const qualifying = rows.filter(
    (r) =>
      r.method !== 'fp32' &&
      r.accuracy >= base.accuracy - 0.005 &&
      r.sizeRatio <= 0.6 &&
      r.cpuMs <= base.cpuMs * 1.1,
  );
  return [...qualifying].sort((a, b) => a.bytes - b.bytes)[0]?.method ?? 'fp32';
}
/**
 * The variant a CPU serves by default (no tier): the fastest method that loses at most 0.5 points of
 * character accuracy and takes at most 0.9x fp32's time (a gain beyond the timing's noise), else fp32.
 * Size does not matter there.
 */
function cpuChoiceOf(rows: readonly MethodMeasurement[]): QuantizationMethod | 'fp32' {
  const [base] = rows;
  if (!base) return 'fp32';
  const qualifying = rows.filter(
    (r) => r.method !== 'fp32' && r.accuracy >= base.accuracy - 0.005 && r.cpuMs <= base.cpuMs * 0.9,
  );
  return [...qualifying].sort((a, b) => a.cpuMs - b.cpuMs)[0]?.method ?? 'fp32';
}
const stored: StoredChoices = readChoices();
for (const role of roles) {
  const name = OCR_MODEL_NAMES[role];
  const { model, bytes, graphs } = fp32[role];
  const t0 = performance.now();
  const tensors = qdqActivations(graphs.toQuantize);
  const ranges = await calibrate(graphs.toQuantize, tensors, feeds[role]);
  const calibrationMs = performance.now() - t0;
  const storedRanges = Object.fromEntries([...ranges].map(([k, r]) => [k, [r.min, r.max] as const]));
  const mixed = await heaviestConvs(graphs.fp32, feeds[role][0] as Record<string, ort.Tensor>);
  const variants: { method: QuantizationMethod; bytes: number; session: ort.InferenceSession }[] = [];
  for (const method of methods) {
    if (method === 'mixed' && mixed.length === 0) continue;
    const started = performance.now();
    const out = applyMethod(
      graphFor(graphs, method),
      method,
      { ranges: storedRanges, mixed },
      QDQ_OPTIONS[name],
    );
    console.log(`  ${name} ${method}: rewritten in ${(performance.now() - started).toFixed(0)} ms`);
    variants.push({
      method,
      bytes: out.length,
      session: await ort.InferenceSession.create(out, sessionOptions),
    });
  }
  const times = await cpuMs(
    [model.session as ort.InferenceSession, ...variants.map((v) => v.session)],
    feeds[role],
  );
  const rows: MethodMeasurement[] = [
    { method: 'fp32', bytes: bytes.length, sizeRatio: 1, cpuMs: times[0] as number, accuracy: baseAccuracy },
  ];
  for (const [i, v] of variants.entries()) {
    rows.push({
      method: v.method,
      bytes: v.bytes,
      sizeRatio: v.bytes / bytes.length,
      cpuMs: times[i + 1] as number,
      accuracy: await accuracyWith({ [role]: { ...model, variant: v.method, session: v.session } }),
    });
  }
  chosenSessions[role] = variants.find((v) => v.method === choiceOf(rows, role))?.session;
  const choice = choiceOf(rows, role);
  const cpuChoice = cpuChoiceOf(rows);
  console.log(
    `\n${name} (${role}); calibration ${calibrationMs.toFixed(0)} ms over ${feeds[role].length} inputs; mixed: ${mixed.join(', ') || 'no Conv does a tenth of the work'}; Lambda choice: ${choice}; CPU default: ${cpuChoice}`,
  );
  console.table(
    rows.map((r) => ({
      method: r.method,
      size: `${(r.bytes / 1e6).toFixed(2)} MB`,
      'x fp32 size': r.sizeRatio.toFixed(3),
      'CPU ms': r.cpuMs.toFixed(1),
      'x fp32 time': (r.cpuMs / (rows[0] as MethodMeasurement).cpuMs).toFixed(2),
      accuracy: r.accuracy.toFixed(4),
      'vs fp32 (points)': ((r.accuracy - baseAccuracy) * 100).toFixed(2),
    })),
  );
  stored[name] = {
    lambda: choice,
    cpu: cpuChoice,
    ranges: storedRanges,
    ...(mixed.length > 0 && { mixed }),
    measured: rows,
  };
}

const tier = Object.fromEntries(
  (Object.keys(OCR_MODEL_NAMES) as OcrRole[]).flatMap((role) => {
    const session = chosenSessions[role];
    return session ? [[role, { ...fp32[role].model, session }]] : [];
  }),
) as Partial<Record<OcrRole, LoadedModel>>;
console.log(
  `\nLambda tier (${Object.keys(tier).join(', ') || 'nothing'} quantized): character accuracy ${(await accuracyWith(tier)).toFixed(4)} against fp32 ${baseAccuracy.toFixed(4)}`,
);

if (values.write) {
  await writeFile(CHOICES_FILE, `${JSON.stringify(stored, null, 1)}\n`);
  console.log(`stored in ${CHOICES_FILE.pathname}`);
}
process.exit(0);
