import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { S3EventRecord } from 'aws-lambda';

/** Credentials s3rver accepts (it accepts any); `us-east-1` is the region it reports. */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const EMBEDDED_S3_REGION = 'us-east-1';

/** A running embedded S3 server. */
export interface EmbeddedS3 {
  /** `http://127.0.0.1:<port>`, as `AWS_ENDPOINT_URL_S3` or an S3Client's `endpoint` wants it. */
  readonly endpoint: string;
  /** Emits `'event'` with each S3 event record (AWS's shape) for Put, Copy, Post and Delete. */
  readonly events: EventEmitter<{ event: [S3EventRecord] }>;
  /** Stops the server; its data folder stays. */
  stop(): Promise<void>;
}

/** Options of {@link startEmbeddedS3}. */
export interface EmbeddedS3Options {
  /** Folder that holds the buckets; created if missing, kept after stop. */
  readonly directory: string;
  /** Loopback port; 0 picks a free one. */
  readonly port: number;
  /** Buckets to create if they do not exist. */
  readonly buckets: readonly string[];
}

// s3rver runs in a child process: its ListObjectsV2 continuation tokens use DES, which Node 20's OpenSSL 3
// offers only with `--openssl-legacy-provider`, and its work should not share the inference event loop.
const CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT),
  silent: true,
  directory: process.env.S3RVER_DIRECTORY,
  configureBuckets: JSON.parse(process.env.S3RVER_BUCKETS).map((name) => ({ name, configs: [] })),
});
server.on('event', (event) => process.send({ type: 'event', event }));
server.run().then(
  (address) => process.send({ type: 'ready', port: address.port }),
  (error) => { console.error(error.message); process.exit(1); },
);
process.on('message', (message) => {
  if (message === 'stop') server.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
`;

type ChildMessage = { type: 'ready'; port: number } | { type: 'event'; event: { Records: S3EventRecord[] } };

/**
 * Starts s3rver (a real S3 protocol server) on loopback: the local stand-in for S3 that `npm start` and
 * the tests use. Any access key is accepted.
 */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  await mkdir(options.directory, { recursive: true });
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIRECTORY: options.directory,
      S3RVER_PORT: String(options.port),
      S3RVER_BUCKETS: JSON.stringify(options.buckets),
    },
  });
  const events = new EventEmitter<{ event: [S3EventRecord] }>();
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(message.port);
        else for (const record of message.event.Records ?? []) events.emit('event', record);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    });
  } catch (error) {
    child.kill();
    throw error;
  }
  return { endpoint: `http://127.0.0.1:${port}`, events, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  if (child.connected) child.send('stop');
  else child.kill();
  await exited;
  clearTimeout(timer);
}
