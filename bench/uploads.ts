/**
 * `npm run bench:uploads`: the upload path of `npm start`, end to end on the embedded default.
 *
 * 1. Latency: one image at a time, from the PUT to `incoming/image/` until its result is readable (median of
 *    BENCH_UPLOADS, default 20).
 * 2. Burst: BENCH_BURST (default 200) uploads at once: are all results there, is any processed twice, how
 *    long it takes, and the server's peak RSS.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EMBEDDED_S3_CREDENTIALS, EMBEDDED_S3_REGION } from '../functions/server/embedded-s3.ts';
import { freePort } from '../test/support/free-port.ts';
import { renderText, stackLines } from '../test/support/render-text.ts';
import { median, ms, quantile } from './stats.ts';

const SINGLE = Number(process.env.BENCH_UPLOADS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 200);

const work = await mkdtemp(join(tmpdir(), 'inferlet-bench-uploads-'));
const [port, s3Port] = [await freePort(), await freePort()];
const server = spawn(process.execPath, ['--import', 'tsx', 'functions/server/main.ts'], {
  env: {
    ...process.env,
    PORT: String(port),
    S3_PORT: String(s3Port),
    S3_DATA_DIR: join(work, 'data'),
    MODEL_CACHE_DIR: join(work, 'cache'),
    TASKS: 'image/ocr',
    MODEL_REPOSITORY: '',
    AWS_ENDPOINT_URL_S3: '',
    LOG_LEVEL: 'info',
    POWERTOOLS_METRICS_DISABLED: 'true',
    NODE_NO_WARNINGS: '1',
  },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let logs = '';
server.stderr?.on('data', (d) => {
  logs += d;
});
const client = new S3Client({
  endpoint: `http://127.0.0.1:${s3Port}`,
  region: EMBEDDED_S3_REGION,
  credentials: EMBEDDED_S3_CREDENTIALS,
  forcePathStyle: true,
});
const peakRss = async () => {
  const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024;
};
const exists = (key: string) =>
  client.send(new HeadObjectCommand({ Bucket: 'uploads', Key: key })).then(
    () => true,
    () => false,
  );

try {
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
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
  for (const line of logs.split('\n')) {
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
  console.log(`  server peak RSS ${(await peakRss()).toFixed(0)} MiB`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(work, { recursive: true, force: true });
}
