/**
 * `npm run bench:ocr-costs`: measures what one `session.run` of the OCR recogniser and classifier costs by
 * lines per run and line width, on this machine's provider and thread count, and stores the figures in
 * `functions/image/batch-costs.json` under `<provider>:<threads>` (e.g. `cpu:2`). The pipeline's batch
 * policy (`functions/image/batch-policy.ts`) reads them to decide how many lines one run should carry.
 *
 * Env: INFERENCE_THREADS (default: the CPUs this process may use), COST_RUNS (default 5).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createSession } from '../functions/core/session.ts';
import type { CostPoint, CostTables } from '../functions/image/batch-policy.ts';
import { OCR_VERSION } from '../scripts/models/ocr.ts';
import { median } from './stats.ts';

const RUNS = Number(process.env.COST_RUNS ?? 5);
const threads = Number(process.env.INFERENCE_THREADS ?? availableParallelism());
const TABLE_FILE = resolve('functions/image/batch-costs.json');

async function measure(
  file: string,
  shapes: readonly { lines: number; width: number }[],
  height: number,
): Promise<CostPoint[]> {
  const session = await createSession(resolve(file), { intraOpThreads: threads, executionProvider: 'cpu' });
  const input = session.inputNames[0] as string;
  const feeds = shapes.map(({ lines, width }) => {
    const data = new Float32Array(lines * 3 * height * width);
    // Text-like input: mostly background with stripes, so no kernel meets only zeros.
    for (let i = 0; i < data.length; i++) data[i] = (i >> 4) % 7 === 0 ? -1 : 1;
    return { [input]: new ort.Tensor('float32', data, [lines, 3, height, width]) };
  });
  for (const feed of feeds) await session.run(feed);
  // Rounds through every shape, so a burst of other work on the machine spreads over all of them rather
  // than inflating one shape's figure.
  const times: number[][] = shapes.map(() => []);
  for (let round = 0; round < RUNS; round++) {
    for (const [i, feed] of feeds.entries()) {
      const t0 = performance.now();
      await session.run(feed);
      times[i]?.push(performance.now() - t0);
    }
  }
  await session.release();
  return shapes.map(({ lines, width }, i) => {
    const ms = Math.round(median(times[i] as number[]) * 100) / 100;
    console.log(`${file} [${lines},3,${height},${width}] ${ms} ms`);
    return { lines, width, ms };
  });
}

const grid = (lines: readonly number[], widths: readonly number[]) =>
  lines.flatMap((n) => widths.map((width) => ({ lines: n, width })));

console.log(
  `threads ${threads}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
/** Every variant file of a model: figures under `<name>` for fp32 and `<name>/<variant>` for the others. */
async function measureVariants(
  name: string,
  shapes: readonly { lines: number; width: number }[],
): Promise<Record<string, CostPoint[]>> {
  const dir = `models/${name}/${OCR_VERSION}`;
  const manifest = JSON.parse(await readFile(`${dir}/manifest.json`, 'utf8')) as {
    variants: Record<string, { file?: string }>;
  };
  const out: Record<string, CostPoint[]> = {};
  for (const [variant, { file }] of Object.entries(manifest.variants)) {
    if (!file) continue;
    out[variant === 'fp32' ? name : `${name}/${variant}`] = await measure(`${dir}/${file}`, shapes, 48);
  }
  return out;
}

const recognizer = await measureVariants('ppocr-v4-rec', grid([1, 2, 3, 4, 6], [320, 480, 640, 960]));
const classifier = await measureVariants('ppocr-mobile-v2-cls', grid([1, 2, 4, 8, 16], [192]));

const tables = JSON.parse(await readFile(TABLE_FILE, 'utf8').catch(() => '{}')) as CostTables;
tables[`cpu:${threads}`] = {
  measured: new Date().toISOString().slice(0, 10),
  loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  models: { ...recognizer, ...classifier },
};
await writeFile(TABLE_FILE, `${JSON.stringify(tables, null, 2)}\n`);
console.log(`stored under cpu:${threads} in ${TABLE_FILE}`);
