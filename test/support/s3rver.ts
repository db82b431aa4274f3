import type { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3EventRecord } from 'aws-lambda';
import {
  EMBEDDED_S3_CREDENTIALS,
  EMBEDDED_S3_REGION,
  startEmbeddedS3,
} from '../../functions/server/embedded-s3.ts';

/** Credentials s3rver accepts; any region works, `us-east-1` is what it reports. */
export const S3RVER_CREDENTIALS = EMBEDDED_S3_CREDENTIALS;
export const S3RVER_REGION = EMBEDDED_S3_REGION;

/** A running s3rver: its endpoint, its S3 event records, and how to stop it. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`, as `AWS_ENDPOINT_URL_S3` wants it. */
  readonly endpoint: string;
  /** The temporary data folder, removed by {@link S3rverHandle.stop}. */
  readonly directory: string;
  /** Emits `'event'` with each S3 event record s3rver raises (Put, Copy, Post, Delete). */
  readonly events: EventEmitter<{ event: [S3EventRecord] }>;
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /** Buckets to create before the server accepts requests. */
  readonly buckets?: readonly string[];
  /** Sets `AWS_ENDPOINT_URL_S3` (and test credentials and region) in `process.env` until stopped. */
  readonly setEnv?: boolean;
}

/**
 * Starts s3rver 3.7.1 on a free loopback port with a temporary data folder (the embedded server of
 * `npm start`, on a throw-away folder).
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
  let server: Awaited<ReturnType<typeof startEmbeddedS3>>;
  try {
    server = await startEmbeddedS3({ directory, port: 0, buckets: options.buckets ?? [] });
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const saved = new Map<string, string | undefined>();
  if (options.setEnv) {
    const env: Record<string, string> = {
      AWS_ENDPOINT_URL_S3: server.endpoint,
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
    endpoint: server.endpoint,
    directory,
    events: server.events,
    async stop() {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
