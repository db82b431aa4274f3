/**
 * `npm run bench:load`: requests per second and latency quantiles of each task at 1, 8, 32 and 128
 * concurrent clients, with dynamic batching on and off, against two of `npm start`'s servers in child
 * processes (`BATCHING=on` and `BATCHING=off`, otherwise alike). On and off are measured interleaved, level
 * by level, in one run, so that other load on the machine falls on both alike; the load average is recorded
 * before and after. Each client sends one request, waits for the answer, and sends the next (closed loop).
 * Refusals of admission control (503) are counted apart and left out of the latencies.
 *
 * Then a burst phase (issue 12's admission criterion): 200 `image/ocr` requests at once, with work-free
 * control requests in the same burst, against a server with `INFERENCE_NICE=10` (the default: every thread
 * but the event loop's lowered) and one with `INFERENCE_NICE=0` (threads left as they are), both with
 * `ADMISSION_CONCURRENCY=4` and `ADMISSION_MAX_WAIT_MS=10000`; after a warm-up of 4 single requests each, the
 * bursts alternate between the two, LOAD_BURSTS of each (default 3; 0 skips the phase).
 *
 * Writes `bench/results/load.json` (`results`: the levels; `burst`: the bursts and their medians per mode).
 * Env: LOAD_TASKS (comma-separated, default all three), LOAD_CLIENTS (default 1,8,32,128), LOAD_SECONDS (per
 * level and mode, default 4), LOAD_BURSTS.
 */
import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/free-port.ts';
import { type LocalServer, startLocalServer } from '../test/support/local-server.ts';
import {
  type BurstSummary,
  postImage,
  renderBurstReceipt,
  sendOcrBurst,
  summariseBurst,
} from '../test/support/ocr-burst.ts';
import { renderText, stackLines } from '../test/support/render-text.ts';
import { pcmData, wavBytes } from '../test/support/wav-bytes.ts';
import { writeResults } from './results.ts';
import { median, quantile } from './stats.ts';

/** One request of a task. */
interface TaskRequest {
  readonly path: string;
  readonly contentType: string;
  readonly body: (i: number) => Uint8Array | string;
}

/** One level of one task and mode. */
interface LevelResult {
  readonly task: string;
  readonly batching: 'on' | 'off';
  readonly clients: number;
  readonly seconds: number;
  readonly ok: number;
  readonly shed: number;
  readonly failed: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

const SPAM = (n: number) =>
  `WIN CASH NOW!!! You have been selected for a $${n},000 prize. Click here to claim, limited offer, act now!`;
const HAM = (n: number) =>
  `Hi team, the meeting about release ${n} moved to Thursday at 10am; the agenda is in the shared folder.`;

/** One second of a voiced-like sound at 16 kHz (harmonics under a syllable envelope). */
function voicedWav(): Uint8Array {
  const rate = 16000;
  const frames = Array.from({ length: rate }, (_, i) => {
    const t = i / rate;
    const envelope = Math.max(0, Math.sin(2 * Math.PI * 3 * t)) ** 2;
    let x = 0;
    for (let h = 1; h <= 8; h++) x += Math.sin(2 * Math.PI * 140 * h * t) / h;
    return [0.25 * envelope * x];
  });
  return wavBytes({ sampleRate: rate, data: pcmData(frames, 16) });
}

async function requests(): Promise<Record<string, TaskRequest>> {
  const png = await renderText({
    width: 640,
    height: 240,
    lines: stackLines(
      ['Invoice 2041', 'Total 67.75', 'Paid by card'].map((text) => ({ text, fontSize: 30 })),
    ),
  });
  const wav = voicedWav();
  return {
    // One text per request: the case where merging requests is what batching can add.
    'text/classify': {
      path: '/v1/text/classify',
      contentType: 'text/plain',
      body: (i) => (i % 2 ? HAM(i) : SPAM(i)),
    },
    'image/ocr': { path: '/v1/image/ocr', contentType: 'image/png', body: () => png },
    'speech/vad': { path: '/v1/speech/vad', contentType: 'audio/wav', body: () => wav },
  };
}

/** `clients` closed-loop clients for `seconds` against `base`. */
async function level(
  base: string,
  request: TaskRequest,
  clients: number,
  seconds: number,
): Promise<Omit<LevelResult, 'task' | 'batching'>> {
  const latencies: number[] = [];
  let shed = 0;
  let failed = 0;
  let sent = 0;
  const until = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < until) {
      const i = sent++;
      const started = performance.now();
      try {
        const response = await fetch(`${base}${request.path}`, {
          method: 'POST',
          headers: { 'content-type': request.contentType },
          body: request.body(i),
        });
        await response.arrayBuffer();
        if (response.status === 200) latencies.push(performance.now() - started);
        else if (response.status === 503) {
          shed++;
          // A refused client waits as Retry-After asks, but not past the level's end.
          const wait = Number(response.headers.get('retry-after') ?? 1) * 1000;
          await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, until - performance.now()))));
        } else failed++;
      } catch {
        failed++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, client));
  const elapsed = (performance.now() - started) / 1000;
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    clients,
    seconds: round(elapsed),
    ok: latencies.length,
    shed,
    failed,
    requestsPerSecond: round(latencies.length / elapsed),
    p50Ms: round(quantile(latencies, 0.5)),
    p95Ms: round(quantile(latencies, 0.95)),
    p99Ms: round(quantile(latencies, 0.99)),
  };
}

/** The servers of the burst phase: every thread but the event loop's at nice 10, and none lowered. */
const BURST_NICE = [10, 0] as const;
const BURST_AT_ONCE = 200;
const BURST_ADMISSION = { concurrency: 4, maxWaitMs: 10_000 };

/** One burst against the server of one `INFERENCE_NICE`. */
interface BurstRun extends BurstSummary {
  readonly inferenceNice: number;
  readonly run: number;
}

/** The medians over the bursts of one mode, figure by figure. */
function mediansOf(runs: readonly BurstRun[]): Record<string, number> {
  const keys = [
    'served',
    'slowestServedMs',
    'refused',
    'refusalMedianMs',
    'refusalSlowestMs',
    'controlMedianMs',
    'controlSlowestMs',
    'probeSlowestMs',
  ] as const;
  return Object.fromEntries(keys.map((key) => [key, median(runs.map((run) => run[key]))]));
}

/** The burst phase: `count` bursts per mode, alternating, on two servers started here. */
async function burstPhase(directory: string, count: number) {
  const png = await renderBurstReceipt();
  const servers: LocalServer[] = [];
  const bases = new Map<number, string>();
  const loadBefore = loadavg();
  try {
    for (const nice of BURST_NICE) {
      const port = await freePort();
      servers.push(
        await startLocalServer({
          directory: join(directory, `burst-nice-${nice}`),
          port,
          s3Port: await freePort(),
          env: {
            TASKS: 'image/ocr',
            INFERENCE_NICE: String(nice),
            ADMISSION_CONCURRENCY: String(BURST_ADMISSION.concurrency),
            ADMISSION_MAX_WAIT_MS: String(BURST_ADMISSION.maxWaitMs),
            LOG_LEVEL: 'warn',
            POWERTOOLS_METRICS_DISABLED: 'true',
          },
        }),
      );
      bases.set(nice, `http://127.0.0.1:${port}`);
    }
    // First runs, and admission's measure of the service time, as a server in service has it.
    for (const base of bases.values()) {
      for (let i = 0; i < 4; i++) {
        const answer = await postImage(base, png);
        if (answer.status !== 200) throw new Error(`warm-up answered ${answer.status}: ${answer.body}`);
      }
    }
    const runs: BurstRun[] = [];
    for (let run = 1; run <= count; run++) {
      // Alternating, the order swapped each round, so that drift in other load falls on both modes.
      const order = run % 2 ? BURST_NICE : ([...BURST_NICE].reverse() as readonly number[]);
      for (const nice of order) {
        const summary = summariseBurst(await sendOcrBurst(bases.get(nice) as string, png, BURST_AT_ONCE));
        runs.push({ inferenceNice: nice, run, ...summary });
        process.stdout.write(
          `burst image/ocr INFERENCE_NICE=${String(nice).padEnd(2)} #${run}: ${summary.served} served (slowest ${summary.slowestServedMs} ms), ${summary.refused} refused (median ${summary.refusalMedianMs}, slowest ${summary.refusalSlowestMs} ms), controls median ${summary.controlMedianMs} slowest ${summary.controlSlowestMs} ms, slowest probe ${summary.probeSlowestMs} ms${summary.otherStatuses.length ? `, other statuses ${summary.otherStatuses.join(' ')}` : ''}\n`,
        );
      }
    }
    return {
      task: 'image/ocr',
      atOnce: BURST_AT_ONCE,
      admission: BURST_ADMISSION,
      loadAverageBefore: loadBefore.map((v) => Math.round(v * 100) / 100),
      loadAverageAfter: loadavg().map((v) => Math.round(v * 100) / 100),
      modes: BURST_NICE.map((nice) => {
        const of = runs.filter((run) => run.inferenceNice === nice);
        return { inferenceNice: nice, bursts: of.length, medians: mediansOf(of) };
      }),
      runs,
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function main(): Promise<void> {
  const tasks = (process.env.LOAD_TASKS ?? 'text/classify,image/ocr,speech/vad').split(',').filter(Boolean);
  const levels = (process.env.LOAD_CLIENTS ?? '1,8,32,128').split(',').map(Number);
  const seconds = Number(process.env.LOAD_SECONDS ?? 4);
  const bursts = Number(process.env.LOAD_BURSTS ?? 3);
  const bodies = await requests();
  const directory = await mkdtemp(join(tmpdir(), 'inferlet-load-'));
  const servers: Record<'on' | 'off', LocalServer> = {} as never;
  const bases: Record<string, string> = {};
  const loadBefore = loadavg();
  try {
    for (const batching of ['on', 'off'] as const) {
      const port = await freePort();
      servers[batching] = await startLocalServer({
        directory: join(directory, batching),
        port,
        s3Port: await freePort(),
        env: {
          TASKS: tasks.join(','),
          BATCHING: batching,
          LOG_LEVEL: 'warn',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
      });
      bases[batching] = `http://127.0.0.1:${port}`;
    }
    const results: LevelResult[] = [];
    for (const task of tasks) {
      const request = bodies[task];
      if (!request) throw new Error(`unknown task ${task}`);
      // Warm-up of both: first runs, and admission's measure of the service time.
      for (const batching of ['on', 'off'] as const) await level(bases[batching] as string, request, 4, 1);
      for (const [n, clients] of levels.entries()) {
        // Interleaved, the order alternating, so that drift in other load falls on both modes.
        const order = n % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
        for (const batching of order) {
          const measured = await level(bases[batching] as string, request, clients, seconds);
          results.push({ task, batching, ...measured });
          process.stdout.write(
            `${task} ${String(clients).padStart(3)} clients batching ${batching.padEnd(3)}: ${String(measured.requestsPerSecond).padStart(7)} req/s  p50 ${measured.p50Ms} p95 ${measured.p95Ms} p99 ${measured.p99Ms} ms  503 ${measured.shed}  failed ${measured.failed}\n`,
          );
        }
      }
    }
    // The level servers stop first: the bursts measure a server alone with its client, as the test does.
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    const burst = bursts > 0 ? await burstPhase(directory, bursts) : undefined;
    const commit = (() => {
      try {
        return execSync('git rev-parse --short HEAD', {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
      } catch {
        return undefined;
      }
    })();
    await writeResults('load', {
      commit,
      loadAverageBefore: loadBefore.map((v) => Math.round(v * 100) / 100),
      loadAverageAfter: loadavg().map((v) => Math.round(v * 100) / 100),
      secondsPerLevel: seconds,
      results,
      ...(burst ? { burst } : {}),
    });
    process.stdout.write('written to bench/results/load.json\n');
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    await rm(directory, { recursive: true, force: true });
  }
}

await main();
