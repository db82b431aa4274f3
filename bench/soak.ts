/**
 * `npm run soak`: many mixed requests (OCR on small images, text, speech, and bad inputs of each kind)
 * against `npm start`'s server in a child process on loopback, to show that it neither fails nor leaks
 * over time. Reports requests/s, the statuses, and the slope of the server's resident memory over the
 * request count after a warm-up (a linear regression, in bytes per 1000 requests), and writes them to
 * `bench/results/soak.json`.
 *
 * Env: SOAK_REQUESTS (10000), SOAK_CONCURRENCY (4), SOAK_WARMUP (1000 requests left out of the slope),
 * SOAK_DEADLINE_S (1200: the run stops issuing requests by then and says so).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seededRandom } from '../scripts/text/trainer.ts';
import { freePort } from '../test/support/free-port.ts';
import { startLocalServer } from '../test/support/local-server.ts';
import { renderText } from '../test/support/render-text.ts';
import { pcmData, wavBytes } from '../test/support/wav-bytes.ts';
import { writeResults } from './results.ts';
import { quantile } from './stats.ts';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  readonly requests: number;
  readonly concurrency: number;
  /** Requests left out of the memory slope: the models' first runs and the heap's growth to its working size. */
  readonly warmup: number;
  /** RSS is sampled once every this many completed requests. */
  readonly sampleEvery: number;
  /** The run stops issuing requests after this long, whatever is left. */
  readonly deadlineMs: number;
  /** Limit on each request, so that a hung request fails the run rather than hanging it. */
  readonly requestTimeoutMs: number;
}

/** What a soak run measured. */
export interface SoakResult {
  readonly requests: number;
  readonly completed: number;
  readonly stoppedEarly: boolean;
  readonly concurrency: number;
  readonly durationS: number;
  readonly requestsPerSecond: number;
  /** Count of each HTTP status; `timeout` and `network` for requests that got none. */
  readonly statuses: Record<string, number>;
  /** The same, per kind of request. */
  readonly byKind: Record<string, Record<string, number>>;
  /** Requests whose status was not the one their kind expects (200 for good input, its 4xx for bad). */
  readonly unexpected: number;
  readonly latencyMs: Record<string, { p50: number; p99: number }>;
  readonly rss: {
    readonly warmup: number;
    readonly afterWarmupMiB: number;
    readonly endMiB: number;
    readonly peakMiB: number;
    /** Least-squares slope of RSS over completed requests, after the warm-up. */
    readonly slopeBytesPer1000Requests: number;
    /** `[completed requests, RSS bytes]`. */
    readonly samples: readonly (readonly [number, number])[];
  };
  readonly machine: { readonly node: string; readonly cpus: number };
}

/** One kind of request in the mix: its weight, what it sends and the status it must get. */
interface RequestKind {
  readonly name: string;
  readonly weight: number;
  readonly expect: number;
  make(i: number): { path: string; contentType: string; body: Uint8Array | string };
}

/** One second of a voiced-like sound at 16 kHz: harmonics of a gliding pitch under a syllable envelope, in noise. */
function voicedWav(seed: number): Uint8Array {
  const rate = 16000;
  const next = seededRandom(seed);
  const frames = Array.from({ length: rate }, (_, i) => {
    const t = i / rate;
    const pitch = 120 + 40 * Math.sin(2 * Math.PI * 0.7 * t + seed);
    const envelope = Math.max(0, Math.sin(2 * Math.PI * 3 * t)) ** 2;
    let x = 0;
    for (let h = 1; h <= 8; h++) x += Math.sin(2 * Math.PI * pitch * h * t) / h;
    return [0.25 * envelope * x + 0.01 * (next() - 0.5)];
  });
  return wavBytes({ sampleRate: rate, data: pcmData(frames, 16) });
}

const SPAM = (n: number) =>
  `WIN CASH NOW!!! You have been selected for a $${n},000 prize. Click here to claim, limited offer, act now!`;
const HAM = (n: number) =>
  `Hi team, the meeting about release ${n} moved to Thursday at 10am; the agenda is in the shared folder.`;

/** The mix: mostly good requests of each task, and one request in seven bad in one of six ways. */
async function requestKinds(): Promise<RequestKind[]> {
  const words = ['invoice 2041', 'total 18.50', 'box 7 of 9', 'platform 4', 'room 112', 'order 5530'];
  const images = await Promise.all(
    words.map((text) =>
      renderText({ width: 200, height: 48, lines: [{ text, x: 10, y: 34, fontSize: 26 }] }),
    ),
  );
  const speech = [1, 2, 3].map(voicedWav);
  const json = (value: unknown) => JSON.stringify(value);
  return [
    {
      name: 'ocr',
      weight: 25,
      expect: 200,
      make: (i) => ({
        path: '/v1/image/ocr',
        contentType: 'image/png',
        body: images[i % images.length] as Uint8Array,
      }),
    },
    {
      name: 'text',
      weight: 30,
      expect: 200,
      make: (i) => ({
        path: '/v1/text/classify',
        contentType: 'application/json',
        body: json({ text: i % 2 ? SPAM(i) : HAM(i) }),
      }),
    },
    {
      name: 'text-batch',
      weight: 10,
      expect: 200,
      make: (i) => ({
        path: '/v1/text/classify',
        contentType: 'application/json',
        body: json({ texts: [SPAM(i), HAM(i), HAM(i + 1)], explain: true }),
      }),
    },
    {
      name: 'speech',
      weight: 20,
      expect: 200,
      make: (i) => ({
        path: '/v1/speech/vad',
        contentType: 'audio/wav',
        body: speech[i % speech.length] as Uint8Array,
      }),
    },
    {
      name: 'bad-png',
      weight: 3,
      expect: 422,
      make: (i) => ({
        path: '/v1/image/ocr',
        contentType: 'image/png',
        body: (images[0] as Uint8Array).subarray(0, 60 + (i % 50)),
      }),
    },
    {
      name: 'bad-gif',
      weight: 2,
      expect: 415,
      make: () => ({
        path: '/v1/image/ocr',
        contentType: 'application/octet-stream',
        body: 'GIF89a\x01\x00\x01\x00',
      }),
    },
    {
      name: 'bad-json',
      weight: 3,
      expect: 400,
      make: () => ({
        path: '/v1/text/classify',
        contentType: 'application/json',
        body: '{"text": "unclosed',
      }),
    },
    {
      name: 'bad-wav',
      weight: 3,
      expect: 422,
      make: (i) => ({
        path: '/v1/speech/vad',
        contentType: 'audio/wav',
        body: (speech[0] as Uint8Array).subarray(0, 40 + (i % 200)),
      }),
    },
    {
      name: 'bad-tensor',
      weight: 2,
      expect: 400,
      make: () => ({
        path: '/v2/models/silero-vad/infer',
        contentType: 'application/json',
        body: json({ inputs: [{ name: 'input', shape: [1, 576], datatype: 'FP32', data: [1, 2] }] }),
      }),
    },
    {
      name: 'bad-route',
      weight: 2,
      expect: 404,
      make: () => ({ path: '/v1/image/nope', contentType: 'image/png', body: images[0] as Uint8Array }),
    },
  ];
}

/** Resident memory of a process, in bytes, from procfs (Linux). */
async function rssOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxy / sxx;
}

/**
 * Starts `npm start`'s server (all tasks, embedded S3, logs at `error`, metrics off) in a child process and
 * sends it `options.requests` mixed requests from `options.concurrency` loops, then stops it.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const kinds = await requestKinds();
  const total = kinds.reduce((s, k) => s + k.weight, 0);
  const pick = seededRandom(20261127);
  const plan = Array.from({ length: options.requests }, () => {
    let r = pick() * total;
    for (const kind of kinds) {
      r -= kind.weight;
      if (r < 0) return kind;
    }
    return kinds[0] as RequestKind;
  });

  const work = await mkdtemp(join(tmpdir(), 'inferlet-soak-'));
  const [port, s3Port] = [await freePort(), await freePort()];
  const server = await startLocalServer({
    directory: work,
    port,
    s3Port,
    env: {
      TASKS: 'image/ocr,text/classify,speech/vad',
      LOG_LEVEL: 'error',
      POWERTOOLS_METRICS_DISABLED: 'true',
      NODE_NO_WARNINGS: '1',
    },
  });
  const pid = server.child.pid as number;
  const base = `http://127.0.0.1:${port}`;

  const statuses: Record<string, number> = {};
  const byKind: Record<string, Record<string, number>> = {};
  const latencies: Record<string, number[]> = {};
  const samples: [number, number][] = [];
  let unexpected = 0;
  let next = 0;
  let completed = 0;
  let peak = 0;
  let sampling = Promise.resolve();
  const started = performance.now();
  const deadline = started + options.deadlineMs;

  const one = async (i: number) => {
    const kind = plan[i] as RequestKind;
    const { path, contentType, body } = kind.make(i);
    const t0 = performance.now();
    let status: string;
    try {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
        signal: AbortSignal.timeout(options.requestTimeoutMs),
      });
      await response.arrayBuffer();
      status = String(response.status);
    } catch (error) {
      status = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network';
    }
    const took = latencies[kind.name] ?? [];
    latencies[kind.name] = took;
    took.push(performance.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
    const counts = byKind[kind.name] ?? {};
    byKind[kind.name] = counts;
    counts[status] = (counts[status] ?? 0) + 1;
    if (status !== String(kind.expect)) unexpected++;
    completed++;
    if (completed % options.sampleEvery === 0) {
      const at = completed;
      sampling = sampling.then(async () => {
        const memory = await rssOf(pid);
        samples.push([at, memory.rss]);
        peak = Math.max(peak, memory.peak);
      });
    }
  };

  try {
    samples.push([0, (await rssOf(pid)).rss]);
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.requests && performance.now() < deadline) await one(next++);
      }),
    );
    await sampling;
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
  const durationS = (performance.now() - started) / 1000;
  const afterWarmup = samples.filter(([at]) => at >= options.warmup);
  const mib = (bytes: number | undefined) => Math.round(((bytes ?? Number.NaN) / 2 ** 20) * 10) / 10;
  return {
    requests: options.requests,
    completed,
    stoppedEarly: completed < options.requests,
    concurrency: options.concurrency,
    durationS: Math.round(durationS * 10) / 10,
    requestsPerSecond: Math.round((completed / durationS) * 10) / 10,
    statuses,
    byKind,
    unexpected,
    latencyMs: Object.fromEntries(
      Object.entries(latencies).map(([k, v]) => [
        k,
        { p50: Math.round(quantile(v, 0.5) * 10) / 10, p99: Math.round(quantile(v, 0.99) * 10) / 10 },
      ]),
    ),
    rss: {
      warmup: options.warmup,
      afterWarmupMiB: mib(afterWarmup[0]?.[1]),
      endMiB: mib(samples.at(-1)?.[1]),
      peakMiB: mib(peak),
      slopeBytesPer1000Requests: Math.round(slope(afterWarmup) * 1000),
      samples,
    },
    machine: { node: process.version, cpus: availableParallelism() },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = process.env;
  const options: SoakOptions = {
    requests: Number(env.SOAK_REQUESTS ?? 10_000),
    concurrency: Number(env.SOAK_CONCURRENCY ?? 4),
    warmup: Number(env.SOAK_WARMUP ?? 1000),
    sampleEvery: 100,
    deadlineMs: Number(env.SOAK_DEADLINE_S ?? 1200) * 1000,
    requestTimeoutMs: 30_000,
  };
  console.log(
    `soak: ${options.requests} requests, ${options.concurrency} at a time, against npm start's server`,
  );
  const result = await runSoak(options);
  await writeResults('soak', { ...result });
  const { rss } = result;
  console.log(
    [
      `${result.completed} requests in ${result.durationS} s: ${result.requestsPerSecond} requests/s` +
        (result.stoppedEarly ? ` (stopped at the deadline, ${result.requests} planned)` : ''),
      `statuses: ${Object.entries(result.statuses)
        .map(([s, n]) => `${s} x${n}`)
        .join(', ')}; unexpected: ${result.unexpected}`,
      ...Object.entries(result.latencyMs).map(
        ([k, l]) => `  ${k.padEnd(11)} p50 ${l.p50} ms, p99 ${l.p99} ms`,
      ),
      `RSS: ${rss.afterWarmupMiB} MiB after ${rss.warmup} requests, ${rss.endMiB} MiB at the end, peak ${rss.peakMiB} MiB; ` +
        `slope ${rss.slopeBytesPer1000Requests} bytes per 1000 requests after the warm-up`,
      'written to bench/results/soak.json',
    ].join('\n'),
  );
  if (result.unexpected > 0 || (result.statuses['500'] ?? 0) > 0) process.exitCode = 1;
}
