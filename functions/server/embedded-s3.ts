import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { S3EventRecord } from 'aws-lambda';
import { describeError, log } from '../core/log.ts';
import { MAX_KEY_BYTES, MAX_SEGMENT_BYTES } from '../core/uploads/upload-keys.ts';

/** Credentials s3rver accepts (it accepts any); `us-east-1` is the region it reports. */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const EMBEDDED_S3_REGION = 'us-east-1';

/** What the supervisor of an embedded S3 server tells. */
export interface EmbeddedS3Status {
  /** The server process ended unasked; a restart is scheduled. */
  down: [];
  /** The server is back after a restart, on the same endpoint; events raised while it was down are lost. */
  up: [];
}

/** A running embedded S3 server. */
export interface EmbeddedS3 {
  /** `http://127.0.0.1:<port>`, as `AWS_ENDPOINT_URL_S3` or an S3Client's `endpoint` wants it. */
  readonly endpoint: string;
  /** Emits `'event'` with each S3 event record (AWS's shape) for Put, Copy, Post and Delete. */
  readonly events: EventEmitter<{ event: [S3EventRecord] }>;
  /** Emits `'down'` when the server dies and `'up'` when its restart answers. */
  readonly status: EventEmitter<EmbeddedS3Status>;
  /** False from a crash of the server until its restart answers again. */
  isUp(): boolean;
  /** Stops the server (and any restart); its data folder stays. */
  stop(): Promise<void>;
}

/** Options of {@link startEmbeddedS3}. */
export interface EmbeddedS3Options {
  /** Folder that holds the buckets; created if missing, kept after stop. */
  readonly directory: string;
  /** Loopback port; 0 picks a free one (kept across restarts). */
  readonly port: number;
  /** Buckets to create if they do not exist. */
  readonly buckets: readonly string[];
  /** Delay before the first restart after a crash, doubled for each crash in a row; default 250 ms. */
  readonly restartDelayMs?: number;
  /** Longest delay between restarts; default 10 s. */
  readonly maxRestartDelayMs?: number;
}

// s3rver runs in a child process: its ListObjectsV2 continuation tokens use DES, which Node 20's OpenSSL 3
// offers only with `--openssl-legacy-provider`, and its work should not share the inference event loop.
//
// s3rver stores each key as a file path under <directory>/<bucket>/ and resolves `..` in it, so a key is
// checked where every request turns one into a path (PUT, GET, copy source, multipart, multi-delete, and
// keys however the URL encodes them: s3rver decodes them first): a key that breaks the rules of
// objectKeyProblem (functions/core/uploads/upload-keys.ts, repeated here because this child is plain
// JavaScript; test/hostile/embedded-s3.test.ts holds both to the same keys) or any path outside its bucket
// is a 400. A listing that meets an entry it cannot read (a half-written object from an older version)
// skips it and reports its key, instead of failing every listing of that prefix. Objects are written whole
// before they are visible (see putObject below).
const CHILD = `
const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const S3rver = require(process.env.S3RVER_MODULE);
const S3Error = require(path.join(path.dirname(process.env.S3RVER_MODULE), 'models', 'error.js'));
const MAX_KEY_BYTES = Number(process.env.S3RVER_MAX_KEY_BYTES);
const MAX_SEGMENT_BYTES = Number(process.env.S3RVER_MAX_SEGMENT_BYTES);
const root = path.resolve(process.env.S3RVER_DIRECTORY);

function keyProblem(key) {
  if (key === '') return 'the key is empty';
  if (/\\p{Cs}/u.test(key)) return 'the key is not valid Unicode';
  if (/\\p{Cc}/u.test(key)) return 'the key has a control character';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return 'the key is ' + bytes + ' bytes long, over the limit of ' + MAX_KEY_BYTES;
  const segments = key.split('/');
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return 'the key has an empty segment (a leading or doubled slash)';
    if (segment === '.' || segment === '..') return 'the key has a "' + segment + '" segment';
    const length = Buffer.byteLength(segment, 'utf8');
    if (length > MAX_SEGMENT_BYTES) {
      return 'a segment of the key is ' + length + ' bytes long, over the limit of ' + MAX_SEGMENT_BYTES;
    }
  }
  return undefined;
}
const validBucket = (name) => /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..');
const inside = (folder, file) => file.startsWith(folder + path.sep);
function checkBucket(name) {
  if (!validBucket(name)) throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.');
}

const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT),
  silent: true,
  directory: root,
  // Path-style only: a Host header must not name the bucket.
  vhostBuckets: false,
  configureBuckets: JSON.parse(process.env.S3RVER_BUCKETS).map((name) => ({ name, configs: [] })),
});
const store = server.store;
const getBucketPath = store.getBucketPath.bind(store);
store.getBucketPath = (bucket) => {
  checkBucket(bucket);
  const folder = getBucketPath(bucket);
  if (!inside(root, folder)) throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.');
  return folder;
};
const getBucket = store.getBucket.bind(store);
store.listBuckets = async () => {
  const names = (await require('node:fs/promises').readdir(root)).filter(validBucket);
  return (await Promise.all(names.map((name) => getBucket(name)))).filter(Boolean);
};
const getResourcePath = store.getResourcePath.bind(store);
store.getResourcePath = (bucket, key, resource) => {
  checkBucket(bucket);
  if (key !== undefined && key !== '') {
    const problem = keyProblem(key);
    if (problem) {
      const code = problem.includes('over the limit') ? 'KeyTooLongError' : 'InvalidArgument';
      throw new S3Error(code, 'The object key is refused: ' + problem + '.', { ArgumentName: 'key' });
    }
  }
  const file = getResourcePath(bucket, key, resource);
  if (!inside(path.join(root, bucket), file)) {
    throw new S3Error('InvalidArgument', 'The object key is refused.', { ArgumentName: 'key' });
  }
  return file;
};
// s3rver's putObject answers (and announces the object) before its file is written out, and writes it in
// place: a GET or an upload's processing could read it empty or cut short. Written to a side file and
// renamed into place once complete, an object is whole whenever it is visible.
const fsp = require('node:fs/promises');
const { createWriteStream } = require('node:fs');
const { Readable, Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const crypto = require('node:crypto');
const partsDir = path.join(root, '.parts');
// Side files of writes a crash cut short: never visible, removed at start.
require('node:fs').rmSync(partsDir, { recursive: true, force: true });
let parts = 0;
store.putObject = async (object) => {
  const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
  await fsp.mkdir(path.dirname(objectPath), { recursive: true });
  await fsp.mkdir(partsDir, { recursive: true });
  const part = path.join(partsDir, process.pid + '-' + parts++);
  const md5 = crypto.createHash('md5');
  let size = 0;
  const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  const count = new Transform({
    transform(chunk, encoding, done) {
      md5.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(content, count, createWriteStream(part));
    await fsp.rename(part, objectPath);
  } catch (error) {
    await fsp.rm(part, { force: true });
    throw error;
  }
  const digest = md5.digest('hex');
  await store.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};
const listing = new AsyncLocalStorage();
const listObjects = store.listObjects.bind(store);
store.listObjects = (bucket, options) => listing.run(true, () => listObjects(bucket, options));
const getMetadata = store.getMetadata.bind(store);
const reported = new Set();
store.getMetadata = async (bucket, key) => {
  try {
    return await getMetadata(bucket, key);
  } catch (error) {
    if (!listing.getStore() || error.code === 'ENOENT') throw error;
    if (!reported.has(bucket + '/' + key)) {
      reported.add(bucket + '/' + key);
      process.send({ type: 'unreadable', bucket, key, reason: error.code || error.message });
    }
    // s3rver's listing skips an entry whose metadata is missing (ENOENT).
    throw Object.assign(new Error('unreadable entry'), { code: 'ENOENT' });
  }
};

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

type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'event'; event: { Records: S3EventRecord[] } }
  | { type: 'unreadable'; bucket: string; key: string; reason: string };

/** A crash-free run this long resets the restart delay to its first value. */
const STABLE_MS = 30_000;

/**
 * Starts s3rver (a real S3 protocol server) on loopback: the local stand-in for S3 that `npm start` and
 * the tests use. Any access key is accepted; keys that break the key rules (`..` segments, too long, ...)
 * are refused with a 400, so nothing is stored outside a bucket's folder.
 *
 * The server is supervised: if its process dies, that is logged, {@link EmbeddedS3.isUp} turns false,
 * `status` emits `'down'`, and it is restarted on the same port after a back-off (doubling from
 * `restartDelayMs` up to `maxRestartDelayMs`), then `status` emits `'up'`.
 *
 * @throws when the first start fails (the port is taken, the folder cannot be written).
 */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  await mkdir(options.directory, { recursive: true });
  const events = new EventEmitter<{ event: [S3EventRecord] }>();
  const status = new EventEmitter<EmbeddedS3Status>();
  const firstDelay = options.restartDelayMs ?? 250;
  const maxDelay = options.maxRestartDelayMs ?? 10_000;
  let child = await launch(options, options.port, events);
  const port = child.port;
  let up = true;
  let stopping = false;
  let crashes = 0;
  let upSince = Date.now();
  let restartTimer: NodeJS.Timeout | undefined;

  const supervise = (running: RunningChild) => {
    running.process.once('exit', (code, signal) => {
      if (stopping) return;
      up = false;
      if (Date.now() - upSince >= STABLE_MS) crashes = 0;
      scheduleRestart({ code, signal });
    });
  };
  const scheduleRestart = (why: Record<string, unknown>) => {
    const delayMs = Math.min(maxDelay, firstDelay * 2 ** crashes);
    crashes++;
    log.error('embedded S3 server is down; restarting it', { ...why, restartInMs: delayMs });
    status.emit('down');
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      launch(options, port, events).then(
        (running) => {
          if (stopping) {
            void stopChild(running.process);
            return;
          }
          child = running;
          up = true;
          upSince = Date.now();
          supervise(running);
          log.info('embedded S3 server restarted', { endpoint: `http://127.0.0.1:${port}` });
          status.emit('up');
        },
        (error: unknown) => {
          if (!stopping) scheduleRestart({ restartError: describeError(error) });
        },
      );
    }, delayMs);
    // Unref'd: a process that is otherwise done is not held up by a restart it no longer needs.
    restartTimer.unref();
  };
  supervise(child);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    status,
    isUp: () => up,
    stop: async () => {
      stopping = true;
      up = false;
      if (restartTimer) clearTimeout(restartTimer);
      await stopChild(child.process);
    },
  };
}

interface RunningChild {
  readonly process: ChildProcess;
  readonly port: number;
}

/** Starts one s3rver process and resolves once it listens; rejects (and kills it) if it ends first. */
async function launch(
  options: EmbeddedS3Options,
  port: number,
  events: EventEmitter<{ event: [S3EventRecord] }>,
): Promise<RunningChild> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIRECTORY: options.directory,
      S3RVER_PORT: String(port),
      S3RVER_BUCKETS: JSON.stringify(options.buckets),
      S3RVER_MAX_KEY_BYTES: String(MAX_KEY_BYTES),
      S3RVER_MAX_SEGMENT_BYTES: String(MAX_SEGMENT_BYTES),
    },
  });
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'event') {
      for (const record of message.event.Records ?? []) events.emit('event', record);
    } else if (message.type === 'unreadable') {
      log.warn('embedded S3 skips an object it cannot read in a listing', {
        bucket: message.bucket,
        key: message.key,
        reason: message.reason,
      });
    }
  });
  try {
    const ready = await new Promise<number>((resolve, reject) => {
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(message.port);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    });
    return { process: child, port: ready };
  } catch (error) {
    child.kill();
    throw error;
  }
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
