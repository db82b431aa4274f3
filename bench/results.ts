/**
 * Where every bench leaves its figures: `bench/results/<name>.json`, one file per bench, with a common
 * `machine` block so a figure can be judged by the machine and load it was measured under. The docs and
 * `npm run plan` read these files instead of copying numbers.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

/** The folder the results live in. */
export const RESULTS_DIR = resolve('bench/results');

/** What a figure was measured on. */
export interface MachineInfo {
  /** CPUs this process may use (`os.availableParallelism()`). */
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  /** The installed `onnxruntime-node`. */
  readonly onnxruntime: string;
  readonly platform: string;
  /** One-minute load average when the results were written: other work on the machine skews timings. */
  readonly loadAverage: number;
  /** ISO date and time the results were written. */
  readonly date: string;
  /** The commit the bench ran from, where git answers. */
  readonly commit?: string;
}

/** The machine block of a results file, read now. */
export function machineInfo(): MachineInfo {
  let onnxruntime = 'unknown';
  try {
    const manifest = JSON.parse(readFileSync(resolve('node_modules/onnxruntime-node/package.json'), 'utf8'));
    onnxruntime = String((manifest as { version: string }).version);
  } catch {
    // A bench run outside the checkout still writes its figures; the version is then unknown.
  }
  let commit: string | undefined;
  try {
    commit = execSync('git rev-parse --short HEAD', {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    commit = undefined;
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    onnxruntime,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
    ...(commit && { commit }),
  };
}

/**
 * Writes `bench/results/<name>.json`: `{ name, ...figures, machine }` (the common block wins over a
 * bench's own `machine` figure); returns the file's path.
 *
 * @example
 * ```ts
 * await writeResults('text', { runs: 5, rows, ratios });
 * ```
 */
export async function writeResults(
  name: string,
  figures: Readonly<Record<string, unknown>>,
): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify({ name, ...figures, machine: machineInfo() }, null, 2)}\n`);
  return file;
}
