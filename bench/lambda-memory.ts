import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { publishRepository } from '../functions/core/model-store/publish.ts';
import { buildOnnxRuntimeLayer } from '../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../layers/sharp/build.ts';
import { bundleFunction, LAMBDA_ENTRIES } from '../scripts/bundle.ts';
import { httpApiEvent, lambdaContext } from '../test/support/api-gateway-event.ts';
import { renderText, stackLines } from '../test/support/render-text.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from '../test/support/s3rver.ts';
import { cpuQuota, PERIOD_US } from './cpu-quota.ts';
import { writeResults } from './results.ts';
import { benchRecordings } from './speech-audio.ts';
import { median, quantile } from './stats.ts';

const SHARES = (process.env.LAMBDA_SHARES ?? '0.5,1,1.5,2').split(',').map(Number);
const COLD_PROCESSES = Number(process.env.COLD_PROCESSES ?? 4);
const WARM_RUNS = Number(process.env.WARM_RUNS ?? 10);
/** Lambda's memory for one vCPU. */
const MB_PER_VCPU = 1769;

/** The tasks measured: the Lambda bundle, its route and a request body like the traffic it serves. */
const TASKS = [
  { task: 'image/ocr', bundle: 'image', route: '/v1/image/ocr' },
  { task: 'text/classify', bundle: 'text', route: '/v1/text/classify' },
  { task: 'speech/vad', bundle: 'speech', route: '/v1/speech/vad' },
] as const;
type Task = (typeof TASKS)[number];

// LAMBDA_QUOTA=duty-cycle forces the fallback, to check it where a cgroup is writable.
const quota = cpuQuota(process.env.LAMBDA_QUOTA === 'duty-cycle');

/** The child's program: import the bundle, answer the events in turn, print timings as one JSON line. */
const RUNNER = `import { readFileSync } from 'node:fs';
const startedMs = performance.now();
const { handler } = await import('./index.mjs');
const importedMs = performance.now();
const [eventFile, context, warmRuns] = process.argv.slice(2);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const requestsMs = [];
let firstResponseAt;
let status;
for (let i = 0; i <= Number(warmRuns); i++) {
  const t0 = performance.now();
  const result = await handler(structuredClone(event), JSON.parse(context));
  requestsMs.push(performance.now() - t0);
  // Wall-clock time of the first response, for the parent's spawn-to-response figure.
  firstResponseAt ??= performance.timeOrigin + performance.now();
  status ??= result.statusCode;
  if (result.statusCode !== 200) { process.stderr.write(String(result.body)); process.exit(2); }
}
process.stdout.write('\\n' + JSON.stringify({ bench: { startedMs, importMs: importedMs - startedMs, requestsMs, firstResponseAt, status } }) + '\\n');
`;

/** One process's figures. */
interface ProcessRun {
  /** Node's start until the runner's first line. */
  readonly nodeStartMs: number;
  readonly importMs: number;
  /** The first request: S3 download, session creation and the first inference. */
  readonly firstRequestMs: number;
  /** The part of the first request the service reports as loading the task (download and sessions). */
  readonly loadMs?: number;
  /** Spawn to the first response, as the parent saw it. */
  readonly coldStartMs: number;
  readonly warmMs: readonly number[];
  /** The variant of each model the metrics name. */
  readonly variant?: string;
  /** The machine's one-minute load average when the process started: other work skews the timings. */
  readonly loadAverage: number;
}

const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-lambda-'));
const s3 = await startS3rver({ buckets: ['models'] });
try {
  console.log(`CPU quota by ${quota.method}; ${availableParallelism()} CPUs here`);
  const layers = [
    buildOnnxRuntimeLayer(join(work, 'layers', 'onnxruntime')),
    buildSharpLayer(join(work, 'layers', 'sharp')),
  ];
  const bundles = new Map<string, string>();
  for (const { bundle } of TASKS) {
    const dir = join(work, 'bundles', bundle);
    await bundleFunction(resolve(LAMBDA_ENTRIES[bundle] as string), join(dir, 'index.mjs'));
    // Lambda puts layers on the module path; links in node_modules stand in for it.
    for (const layer of layers)
      linkPackages(join(layer.directory, 'nodejs', 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'runner.mjs'), RUNNER);
    bundles.set(bundle, dir);
  }
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: S3RVER_REGION,
    credentials: S3RVER_CREDENTIALS,
    forcePathStyle: true,
  });
  await publishRepository({ from: resolve('models'), to: 's3://models/', client });

  const inputs = await requestBodies();
  const eventFiles = new Map<string, string>();
  for (const t of TASKS) {
    const input = inputs[t.task];
    const event = httpApiEvent('POST', t.route, {
      body: input.contentType === 'application/json' ? new TextDecoder().decode(input.bytes) : input.bytes,
      contentType: input.contentType,
    });
    const file = join(work, `${t.bundle}-event.json`);
    await writeFile(file, JSON.stringify(event));
    eventFiles.set(t.task, file);
  }

  /** Runs one fresh process of `t`'s bundle at `share` vCPU with an empty model cache. */
  const runOnce = async (t: Task, share: number, env: Record<string, string>): Promise<ProcessRun> => {
    const dir = bundles.get(t.bundle) as string;
    const cache = await mkdtemp(join(work, 'cache-'));
    const args = [
      '--enable-source-maps',
      join(dir, 'runner.mjs'),
      eventFiles.get(t.task) as string,
      JSON.stringify(lambdaContext(`inferlet-${t.bundle}`)),
      String(WARM_RUNS),
    ];
    const childEnv = {
      PATH: process.env.PATH,
      // What the template gives the function (infra/constructs/inference-function.ts), with s3rver for S3.
      MODEL_REPOSITORY: 's3://models/',
      MODEL_CACHE_DIR: cache,
      MODEL_TIER: 'lambda',
      POWERTOOLS_SERVICE_NAME: 'inferlet-lambda',
      POWERTOOLS_METRICS_NAMESPACE: 'Inferlet',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: S3RVER_REGION,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      LOG_LEVEL: 'info',
      ...env,
    };
    const loadAverage = loadavg()[0] ?? 0;
    const started = performance.timeOrigin + performance.now();
    const { child, release } = await quota.spawn(share, process.execPath, args, { cwd: dir, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    release();
    await rm(cache, { recursive: true, force: true });
    const lines = stdout.split('\n').filter((line) => line.startsWith('{'));
    const bench = lines.map((l) => JSON.parse(l)).find((r) => r.bench)?.bench as
      | { startedMs: number; importMs: number; requestsMs: number[]; firstResponseAt: number }
      | undefined;
    if (code !== 0 || !bench)
      throw new Error(`${t.task} at ${share} vCPU exited ${code}: ${stderr.slice(-2000)}`);
    const emf = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => '_aws' in r);
    const loaded = stderr
      .split('\n')
      .filter((l) => l.includes('"task loaded"'))
      .map((l) => JSON.parse(l) as { loadMs: number })[0];
    const [first, ...warm] = bench.requestsMs;
    const firstRequestMs = first as number;
    return {
      nodeStartMs: bench.startedMs,
      importMs: bench.importMs,
      firstRequestMs,
      ...(loaded && { loadMs: loaded.loadMs }),
      coldStartMs: bench.firstResponseAt - started,
      warmMs: warm,
      ...(typeof emf?.variant === 'string' && { variant: emf.variant }),
      loadAverage,
    };
  };

  const round = (v: number) => Math.round(v * 10) / 10;
  const summarise = (runs: readonly ProcessRun[]) => {
    const warm = runs.flatMap((r) => r.warmMs);
    const cold = runs.map((r) => r.coldStartMs);
    return {
      warm: { runs: warm.length, p50Ms: round(median(warm)), p95Ms: round(quantile(warm, 0.95)) },
      coldStart: {
        processes: runs.length,
        p50Ms: round(median(cold)),
        maxMs: round(Math.max(...cold)),
        nodeStartMs: round(median(runs.map((r) => r.nodeStartMs))),
        importMs: round(median(runs.map((r) => r.importMs))),
        firstRequestMs: round(median(runs.map((r) => r.firstRequestMs))),
        loadMs: round(median(runs.map((r) => r.loadMs ?? Number.NaN))),
      },
      ...(runs[0]?.variant && { variant: runs[0].variant }),
      loadAverage: Math.round(median(runs.map((r) => r.loadAverage)) * 100) / 100,
    };
  };

  const rows = [];
  // Shares interleaved per round of processes, so a burst of other work on the machine lands on all shares.
  const collected = new Map<string, ProcessRun[]>();
  for (let p = 0; p < COLD_PROCESSES; p++) {
    for (const t of TASKS) {
      for (const share of SHARES) {
        const key = `${t.task}@${share}`;
        const run = await runOnce(t, share, {});
        collected.set(key, [...(collected.get(key) ?? []), run]);
        console.log(
          `${t.task} ${share} vCPU: cold ${run.coldStartMs.toFixed(0)} ms, warm median ${median(run.warmMs).toFixed(1)} ms`,
        );
      }
    }
  }
  for (const t of TASKS) {
    for (const share of SHARES) {
      rows.push({
        task: t.task,
        vcpu: share,
        memoryMb: Math.round(share * MB_PER_VCPU),
        requestBytes: inputs[t.task].bytes.byteLength,
        ...summarise(collected.get(`${t.task}@${share}`) as ProcessRun[]),
      });
    }
  }

  // Issue 13: the image task's cold start with fp32 models against the Lambda tier's quantized ones.
  const image = TASKS[0];
  const tierRuns = { fp32: [] as ProcessRun[], lambda: [] as ProcessRun[] };
  for (let p = 0; p < COLD_PROCESSES; p++) {
    tierRuns.fp32.push(await runOnce(image, 1, { MODEL_TIER: '' }));
    tierRuns.lambda.push(await runOnce(image, 1, { MODEL_TIER: 'lambda' }));
  }
  const modelTiers = {
    task: image.task,
    vcpu: 1,
    fp32: summarise(tierRuns.fp32),
    lambda: summarise(tierRuns.lambda),
  };

  console.log('\ntask           vCPU  memory  warm p50  warm p95  cold p50 (import, load, first request)');
  for (const r of rows) {
    console.log(
      `${r.task.padEnd(14)} ${String(r.vcpu).padStart(4)} ${String(r.memoryMb).padStart(6)} MB ${r.warm.p50Ms
        .toFixed(1)
        .padStart(
          7,
        )} ${r.warm.p95Ms.toFixed(1).padStart(9)} ${r.coldStart.p50Ms.toFixed(0).padStart(9)} (${r.coldStart.importMs.toFixed(0)}, ${r.coldStart.loadMs.toFixed(0)}, ${r.coldStart.firstRequestMs.toFixed(0)})`,
    );
  }
  for (const tier of ['fp32', 'lambda'] as const) {
    const c = modelTiers[tier].coldStart;
    console.log(
      `image/ocr at 1 vCPU, ${tier.padEnd(6)}: cold ${c.p50Ms.toFixed(0)} ms (load ${c.loadMs.toFixed(0)} ms, first request ${c.firstRequestMs.toFixed(0)} ms), warm p50 ${modelTiers[tier].warm.p50Ms} ms`,
    );
  }
  const file = await writeResults('lambda-memory', {
    quota: {
      method: quota.method,
      periodUs: PERIOD_US,
      weight:
        'highest (cpu.shares 262144 / cpu.weight 10000), so other work on the machine cannot take the share',
      hostCpus: availableParallelism(),
      threads: 'unset INFERENCE_THREADS, as the template leaves it: onnxruntime uses the CPUs Node sees',
    },
    mbPerVcpu: MB_PER_VCPU,
    coldProcesses: COLD_PROCESSES,
    warmRunsPerProcess: WARM_RUNS,
    notMeasured:
      "Lambda's sandbox start and code download before Node starts; S3 over a network (s3rver on loopback)",
    loadAverageAfter: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    rows,
    modelTiers,
  });
  console.log(`written to ${file}`);
} finally {
  await s3.stop();
  await quota.close();
  await rm(work, { recursive: true, force: true });
}

/** A request body per task: a five-line receipt, one short mail, ten spoken sentences. */
async function requestBodies(): Promise<Record<Task['task'], { bytes: Uint8Array; contentType: string }>> {
  const receipt = await renderText({
    width: 620,
    height: 290,
    lines: stackLines(
      ['CORNER SHOP', '2 x coffee 6.40', '1 x bagel 3.20', 'total 9.60', 'paid by card'].map((text) => ({
        text,
        fontSize: 26,
      })),
    ),
  });
  const mail = new TextEncoder().encode(
    JSON.stringify({ text: 'Congratulations! You have won a FREE prize, click here to claim your cash now' }),
  );
  const [recording] = await benchRecordings(1);
  return {
    'image/ocr': { bytes: receipt, contentType: 'image/png' },
    'text/classify': { bytes: mail, contentType: 'application/json' },
    'speech/vad': { bytes: (recording as { wav: Uint8Array }).wav, contentType: 'audio/wav' },
  };
}

function linkPackages(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (name.startsWith('@')) linkPackages(join(source, name), join(target, name));
    else symlinkSync(join(source, name), join(target, name));
  }
}
