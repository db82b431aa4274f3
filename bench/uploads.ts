import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { freePort } from '../test/support/free-port.ts';
import { startLocalServer } from '../test/support/local-server.ts';
import { renderText, stackLines } from '../test/support/render-text.ts';
import { writeResults } from './results.ts';
import { median, ms, quantile } from './stats.ts';

const SINGLE = Number(process.env.BENCH_UPLOADS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 200);

const loadBefore = loadavg()[0];
const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-uploads-'));
const [port, s3Port] = [await freePort(), await freePort()];
const server = await startLocalServer({
  directory: work,
  port,
  s3Port,
  env: { LOG_LEVEL: 'info', POWERTOOLS_METRICS_DISABLED: 'true', NODE_NO_WARNINGS: '1' },
});
const client = server.s3;
const peakRss = async () => {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024;
};
const exists = (key: string) =>
  client.send(new HeadObjectCommand({ Bucket: 'uploads', Key: key })).then(
    () => true,
    () => false,
  );

try {
  const images = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      renderText({
        width: 640,
        height: 160,
        lines: stackLines([
          { text: `delivery note ${1000 + i}`, fontSize: 30 },
          { text: `box ${i} of 10`, fontSize: 30 },
        ]),
      }),
    ),
  );

  const latencies: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const key = `single-${i}.png`;
    const t0 = performance.now();
    await client.send(
      new PutObjectCommand({
        Bucket: 'uploads',
        Key: `incoming/image/${key}`,
        Body: images[i % images.length],
      }),
    );
    while (!(await exists(`results/image/${key}.json`))) await new Promise((r) => setTimeout(r, 5));
    latencies.push(performance.now() - t0);
  }
  console.log(
    `\nupload -> result, one at a time (${SINGLE}): median ${ms(median(latencies))}, p90 ${ms(quantile(latencies, 0.9))}`,
  );

  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      client.send(
        new PutObjectCommand({
          Bucket: 'uploads',
          Key: `incoming/image/burst/${i}.png`,
          Body: images[i % images.length],
        }),
      ),
    ),
  );
  const uploadedMs = performance.now() - t0;
  const count = async () =>
    (await client.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: 'results/image/burst/' })))
      .KeyCount ?? 0;
  let done = 0;
  for (let i = 0; i < 12_000 && done < BURST; i++) {
    await new Promise((r) => setTimeout(r, 250));
    done = await count();
  }
  const allMs = performance.now() - t0;
  const processed = new Map<string, number>();
  for (const line of server.output.stderr.split('\n')) {
    if (!line.includes('"message":"upload"')) continue;
    const entry = JSON.parse(line) as { key: string; status: string };
    if (entry.status === 'processed') processed.set(entry.key, (processed.get(entry.key) ?? 0) + 1);
  }
  const burstKeys = [...processed.keys()].filter((k) => k.startsWith('incoming/image/burst/'));
  const twice = burstKeys.filter((k) => (processed.get(k) ?? 0) > 1).length;
  console.log(
    `\n${BURST} uploads at once: all PUTs answered in ${ms(uploadedMs)}; ${done}/${BURST} results after ${ms(allMs)}`,
  );
  console.log(
    `  (${(BURST / (allMs / 1000)).toFixed(1)} images/s); processed twice: ${twice}; errors/: ${(await client.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: 'errors/' }))).KeyCount ?? 0}`,
  );
  const peakRssMiB = await peakRss();
  const errors =
    (await client.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: 'errors/' }))).KeyCount ?? 0;
  console.log(`  server peak RSS ${peakRssMiB.toFixed(0)} MiB`);
  // The docs' upload figures are rendered from this file (npm run docs:figures).
  await writeResults('uploads', {
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    single: { uploads: SINGLE, medianMs: median(latencies), p90Ms: quantile(latencies, 0.9) },
    burst: { uploads: BURST, results: done, allMs, processedTwice: twice, errors, peakRssMiB },
  });
} finally {
  await server.stop();
  await rm(work, { recursive: true, force: true });
}
