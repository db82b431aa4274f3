/**
 * The GPU check's measurement, bundled by `npm run gpu:bundle` into `app/check.mjs` and run by the bundle's
 * own Node: starts the bundled server once per mode (`cpu`, then `auto` with the GPU tier's variants) on
 * the same machine, reads each OCR model's execution provider from `/v2/models/{name}`, and posts the OCR
 * benchmark's documents (bench/ocr-images.ts, rendered at bundle time) at 1, 8 and 32 concurrent clients:
 * documents per second, latency percentiles, errors and character accuracy. Prints one JSON object with the
 * table and the `auto`/`cpu` ratios.
 *
 *   node app/check.mjs --app app --models models --docs docs [--modes cpu,auto] [--clients 1,8,32]
 *     [--rounds 3] [--limit N] [--out result.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { characterAccuracy } from '../../bench/ocr-images.ts';

/** One document of the benchmark: its file and the lines it shows. */
export interface CheckDocument {
  readonly name: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly lines: readonly string[];
}

/** What one level of concurrency measured. */
export interface ConcurrencyResult {
  readonly clients: number;
  readonly requests: number;
  readonly documentsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly errors: number;
  /** Mean character accuracy (1 − CER) over the documents, from their first answer at this level. */
  readonly accuracy: number;
  /** The text read of each document, by name, to compare modes. */
  readonly texts: Readonly<Record<string, string>>;
}

/** One mode's run: its providers, readiness time and the table. */
export interface ModeResult {
  readonly mode: string;
  readonly readyMs: number;
  readonly providers: Readonly<Record<string, unknown>>;
  readonly concurrency: readonly ConcurrencyResult[];
}

const OCR_MODELS = ['ppocr-v4-det', 'ppocr-mobile-v2-cls', 'ppocr-v4-rec'];

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Reads the documents written by the bundle builder: `truth.json` and the image files it names. */
export async function readDocuments(dir: string): Promise<CheckDocument[]> {
  const truth = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8')) as Record<
    string,
    { mediaType: string; lines: string[] }
  >;
  return Promise.all(
    Object.entries(truth).map(async ([name, t]) => ({
      name,
      mediaType: t.mediaType,
      lines: t.lines,
      bytes: new Uint8Array(await readFile(join(dir, name))),
    })),
  );
}

/** Starts the bundled server from `app` with `env`; resolves once `/v2/health/ready` says 200. */
async function startServer(
  app: string,
  env: Record<string, string>,
  port: number,
): Promise<{ child: ChildProcess; readyMs: number; log: () => string }> {
  const started = performance.now();
  let output = '';
  const child = spawn(process.execPath, ['dist/server/index.mjs'], {
    cwd: app,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    output = (output + String(chunk)).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Warm-up compiles every served shape on a GPU provider: allow minutes.
  for (const deadline = started + 15 * 60_000; performance.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { child, readyMs: Math.round(performance.now() - started), log: () => output };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`server not ready in 15 minutes:\n${output}`);
}

/** Posts documents from `clients` concurrent loops until `requests` answers have come back. */
async function measure(
  base: string,
  documents: readonly CheckDocument[],
  clients: number,
  requests: number,
): Promise<ConcurrencyResult> {
  const latencies: number[] = [];
  const texts: Record<string, string> = {};
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const client = async () => {
    for (let i = next++; i < requests; i = next++) {
      const doc = documents[i % documents.length] as CheckDocument;
      const t0 = performance.now();
      const response = await fetch(`${base}/v1/image/ocr`, {
        method: 'POST',
        headers: { 'content-type': doc.mediaType },
        body: doc.bytes,
      });
      const body = (await response.json()) as { text?: string };
      latencies.push(performance.now() - t0);
      if (!response.ok || typeof body.text !== 'string') errors++;
      else texts[doc.name] ??= body.text;
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const accuracies = documents.map((d) => characterAccuracy(d.lines, (texts[d.name] ?? '').split('\n')));
  return {
    clients,
    requests,
    documentsPerSecond: Math.round(((requests - errors) / seconds) * 100) / 100,
    p50Ms: Math.round(quantile(latencies, 0.5) * 10) / 10,
    p90Ms: Math.round(quantile(latencies, 0.9) * 10) / 10,
    errors,
    accuracy: Math.round((accuracies.reduce((a, b) => a + b, 0) / accuracies.length) * 10_000) / 10_000,
    texts,
  };
}

/** Runs one mode: server up, providers read, each concurrency measured, server down. */
export async function runMode(options: {
  readonly app: string;
  readonly models: string;
  readonly mode: string;
  readonly documents: readonly CheckDocument[];
  readonly clients: readonly number[];
  readonly rounds: number;
  readonly port: number;
}): Promise<ModeResult> {
  const cache = await mkdtemp(join(tmpdir(), 'inferlet-gpu-check-'));
  const env: Record<string, string> = {
    EMBEDDED_S3: 'off',
    MODEL_REPOSITORY: resolve(options.models),
    MODEL_CACHE_DIR: cache,
    TASKS: 'image/ocr',
    EXECUTION_PROVIDER: options.mode,
    // The CPU mode reads the default variants (the recogniser's int8); a GPU mode the GPU tier's (the
    // package graphs, the recogniser's without opset-9 Clip).
    ...(options.mode === 'cpu' ? {} : { MODEL_TIER: 'gpu' }),
    // Nothing is shed during the measurement: 32 clients queue rather than get 503.
    ADMISSION_MAX_WAIT_MS: '600000',
    LOG_LEVEL: 'warn',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const server = await startServer(resolve(options.app), env, options.port);
  const base = `http://127.0.0.1:${options.port}`;
  try {
    const providers: Record<string, unknown> = {};
    for (const name of OCR_MODELS) {
      const metadata = (await (await fetch(`${base}/v2/models/${name}`)).json()) as {
        execution_provider?: unknown;
      };
      providers[name] = metadata.execution_provider;
    }
    // One untimed pass: first requests pay what a warm server does not (allocations, caches).
    await measure(base, options.documents, 1, options.documents.length);
    const concurrency: ConcurrencyResult[] = [];
    for (const clients of options.clients) {
      const requests = Math.max(options.documents.length * options.rounds, clients * 4);
      concurrency.push(await measure(base, options.documents, clients, requests));
    }
    return { mode: options.mode, readyMs: server.readyMs, providers, concurrency };
  } finally {
    server.child.kill('SIGTERM');
    await once(server.child, 'exit');
  }
}

/** `auto` against `cpu` per concurrency: throughput and p50 ratios, and whether the texts are the same. */
export function compareModes(cpu: ModeResult, other: ModeResult) {
  return other.concurrency.map((o) => {
    const c = cpu.concurrency.find((x) => x.clients === o.clients);
    const differing = c ? Object.keys(o.texts).filter((name) => o.texts[name] !== c.texts[name]) : [];
    return {
      clients: o.clients,
      throughputRatio: c ? Math.round((o.documentsPerSecond / c.documentsPerSecond) * 100) / 100 : null,
      p50Ratio: c ? Math.round((o.p50Ms / c.p50Ms) * 100) / 100 : null,
      accuracyDifference: c ? Math.round((o.accuracy - c.accuracy) * 10_000) / 10_000 : null,
      documentsReadDifferently: differing,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      app: { type: 'string', default: 'app' },
      models: { type: 'string', default: 'models' },
      docs: { type: 'string', default: 'docs' },
      modes: { type: 'string', default: 'cpu,auto' },
      clients: { type: 'string', default: '1,8,32' },
      rounds: { type: 'string', default: '3' },
      port: { type: 'string', default: '18080' },
      // The first N documents only (the tests' short run).
      limit: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const all = await readDocuments(values.docs);
  const documents = values.limit ? all.slice(0, Number(values.limit)) : all;
  const modes: ModeResult[] = [];
  for (const mode of values.modes.split(',')) {
    process.stderr.write(`gpu check: ${mode}...\n`);
    modes.push(
      await runMode({
        app: values.app,
        models: values.models,
        mode,
        documents,
        clients: values.clients.split(',').map(Number),
        rounds: Number(values.rounds),
        port: Number(values.port),
      }),
    );
  }
  const cpu = modes.find((m) => m.mode === 'cpu');
  const result = {
    measured: new Date().toISOString(),
    node: process.version,
    // The Node that ran this: the bundle's own (run.sh), not one installed on the machine.
    execPath: process.execPath,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    documents: documents.map((d) => d.name),
    modes: modes.map(({ concurrency, ...m }) => ({
      ...m,
      concurrency: concurrency.map(({ texts, ...c }) => c),
    })),
    comparison: cpu
      ? Object.fromEntries(modes.filter((m) => m !== cpu).map((m) => [m.mode, compareModes(cpu, m)]))
      : {},
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out) await writeFile(values.out, json);
  process.stdout.write(json);
}
