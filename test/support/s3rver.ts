import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Credentials s3rver accepts; any region works, `us-east-1` is what it reports. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3RVER_REGION = 'us-east-1';

/** A running s3rver: its endpoint, its S3 event records, and how to stop it. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`, as `AWS_ENDPOINT_URL_S3` wants it. */
  readonly endpoint: string;
  /** The temporary data folder, removed by {@link S3rverHandle.stop}. */
  readonly directory: string;
  /** Emits `'event'` with each S3 event record s3rver raises (Put, Copy, Post, Delete). */
  readonly events: EventEmitter;
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /** Buckets to create before the server accepts requests. */
  readonly buckets?: readonly string[];
  /** Sets `AWS_ENDPOINT_URL_S3` (and test credentials and region) in `process.env` until stopped. */
  readonly setEnv?: boolean;
}

// s3rver runs in a child process because its ListObjectsV2 continuation tokens use DES, which Node 20's
// OpenSSL 3 only offers with `--openssl-legacy-provider`; a child can have that flag without the tests.
const CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.env.S3RVER_DIRECTORY,
  configureBuckets: JSON.parse(process.env.S3RVER_BUCKETS).map((name) => ({ name, configs: [] })),
});
server.on('event', (event) => process.send({ type: 'event', event }));
server.run().then(
  (address) => process.send({ type: 'ready', port: address.port }),
  (error) => { console.error(error); process.exit(1); },
);
process.on('message', (message) => {
  if (message === 'stop') server.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
`;

type ChildMessage = { type: 'ready'; port: number } | { type: 'event'; event: unknown };

/**
 * Starts s3rver 3.7.1 on a free loopback port with a temporary data folder.
 *
 * @example
 * ```ts
 * const s3 = await startS3rver({ buckets: ['models'], setEnv: true });
 * // ... new S3Client({}) now talks to s3rver
 * await s3.stop();
 * ```
 */
export async function startS3rver(options: StartS3rverOptions = {}): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIRECTORY: directory,
      S3RVER_BUCKETS: JSON.stringify(options.buckets ?? []),
    },
  });
  const events = new EventEmitter();
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(message.port);
        else events.emit('event', message.event);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    });
  } catch (error) {
    child.kill();
    await rm(directory, { recursive: true, force: true });
    throw error;
  }

  const endpoint = `http://127.0.0.1:${port}`;
  const saved = new Map<string, string | undefined>();
  if (options.setEnv) {
    const env: Record<string, string> = {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: S3RVER_REGION,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    for (const [name, value] of Object.entries(env)) {
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
  }

  return {
    endpoint,
    directory,
    events,
    async stop() {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await stopChild(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
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
