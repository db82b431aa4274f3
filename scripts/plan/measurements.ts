/**
 * The measured figures a plan stands on, read from `bench/results/`: the Lambda sweep
 * (`lambda-memory.json`, `npm run bench:lambda-memory`) and, where one exists, a GPU throughput file
 * (`gpu.json`: `{ rows: [{ task, instanceType, requestsPerSecond }] }`). Each figure keeps the file it
 * came from, so the plan can name its sources.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';

/** One task at one CPU share, as the Lambda sweep measured it. */
export interface LambdaOption {
  readonly vcpu: number;
  readonly memoryMb: number;
  readonly warmP50Ms: number;
  readonly warmP95Ms: number;
  readonly coldStartMs: number;
}

/** What the plan of one task reads from the measurements, with where each part came from. */
export interface TaskMeasurements {
  readonly task: string;
  readonly lambda: readonly LambdaOption[];
  /** Requests per second one GPU instance of the type serves, where measured. */
  readonly gpuRps?: Readonly<Record<string, number>>;
  /** Bytes of the task's model repository entries (S3 storage, cold-start downloads). */
  readonly modelBytes: number;
  /** Files a cold start downloads. */
  readonly modelFiles: number;
  /** Size of the request the latencies were measured with. */
  readonly requestBytes: number;
  /** `path (date, machine)` of each file read. */
  readonly sources: readonly string[];
}

const LambdaMemoryResults = z.object({
  machine: z.object({ date: z.string(), cpuModel: z.string(), cores: z.number() }).loose(),
  quota: z.object({ method: z.string() }).loose(),
  rows: z.array(
    z
      .object({
        task: z.string(),
        vcpu: z.number(),
        memoryMb: z.number(),
        warm: z.object({ p50Ms: z.number(), p95Ms: z.number() }).loose(),
        coldStart: z.object({ p50Ms: z.number() }).loose(),
        requestBytes: z.number(),
      })
      .loose(),
  ),
});

const GpuResults = z.object({
  machine: z.object({ date: z.string() }).loose().optional(),
  rows: z.array(
    z.object({ task: z.string(), instanceType: z.string(), requestsPerSecond: z.number().positive() }),
  ),
});

/**
 * Reads what `resultsDir` holds for `task`.
 *
 * @throws Error when the Lambda sweep is missing or does not cover the task (run `npm run bench:lambda-memory`).
 */
export function readMeasurements(
  task: string,
  resultsDir = resolve('bench/results'),
  modelsDir = resolve('models'),
): TaskMeasurements {
  const sources: string[] = [];
  const sweepFile = join(resultsDir, 'lambda-memory.json');
  if (!existsSync(sweepFile)) throw new Error(`no ${sweepFile}: run npm run bench:lambda-memory first`);
  const sweep = LambdaMemoryResults.parse(JSON.parse(readFileSync(sweepFile, 'utf8')));
  const rows = sweep.rows.filter((row) => row.task === task);
  if (rows.length === 0)
    throw new Error(
      `${sweepFile} has no rows for ${task}; it measured ${[...new Set(sweep.rows.map((r) => r.task))].join(', ')}`,
    );
  sources.push(
    `${relative(process.cwd(), sweepFile)} (${sweep.machine.date.slice(0, 10)}, ${sweep.machine.cores} x ${sweep.machine.cpuModel}, quota by ${sweep.quota.method})`,
  );
  const lambda = rows
    .map((row) => ({
      vcpu: row.vcpu,
      memoryMb: row.memoryMb,
      warmP50Ms: row.warm.p50Ms,
      warmP95Ms: row.warm.p95Ms,
      coldStartMs: row.coldStart.p50Ms,
    }))
    .sort((a, b) => a.memoryMb - b.memoryMb);

  let gpuRps: Record<string, number> | undefined;
  const gpuFile = join(resultsDir, 'gpu.json');
  if (existsSync(gpuFile)) {
    const gpu = GpuResults.parse(JSON.parse(readFileSync(gpuFile, 'utf8')));
    const measured = gpu.rows.filter((row) => row.task === task);
    if (measured.length > 0) {
      gpuRps = Object.fromEntries(measured.map((row) => [row.instanceType, row.requestsPerSecond]));
      sources.push(`${relative(process.cwd(), gpuFile)} (${gpu.machine?.date.slice(0, 10) ?? 'undated'})`);
    }
  }
  const { bytes, files } = modelFootprint(task, modelsDir);
  const requestBytes = Math.max(...rows.map((row) => row.requestBytes));
  return {
    task,
    lambda,
    ...(gpuRps && { gpuRps }),
    modelBytes: bytes,
    modelFiles: files,
    requestBytes,
    sources,
  };
}

/** Bytes and files of the models serving `task` (its ensemble and the models it composes) in `modelsDir`. */
function modelFootprint(task: string, modelsDir: string): { bytes: number; files: number } {
  if (!existsSync(modelsDir)) return { bytes: 0, files: 0 };
  const manifests = readdirSync(modelsDir).flatMap((name) => {
    const dir = join(modelsDir, name);
    return readdirSync(dir)
      .filter((version) => existsSync(join(dir, version, 'manifest.json')))
      .map((version) => ({
        dir: join(dir, version),
        manifest: JSON.parse(readFileSync(join(dir, version, 'manifest.json'), 'utf8')) as {
          name: string;
          task?: string;
          composing?: { name: string }[];
        },
      }));
  });
  const top = manifests.filter((m) => m.manifest.task === task);
  const names = new Set(
    top.flatMap((m) => [m.manifest.name, ...(m.manifest.composing ?? []).map((c) => c.name)]),
  );
  let bytes = 0;
  let files = 0;
  for (const m of manifests.filter((entry) => names.has(entry.manifest.name))) {
    for (const file of readdirSync(m.dir)) {
      bytes += statSync(join(m.dir, file)).size;
      files += 1;
    }
  }
  return { bytes, files };
}
