import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumMismatchError, InferletError, RepositoryUnavailableError } from '../errors.ts';
import { sha256File } from './sha256-file.ts';

/** What a cached file must be: its size and lower-case hex sha256. */
export interface ExpectedContent {
  readonly bytes: number;
  readonly sha256: string;
}

/** Where a verified file came from: `'download'` when it was fetched now, `'cache'` when it was on disk. */
export type CacheOutcome = 'download' | 'cache';

/** A verified file in the cache. */
export interface CachedFile {
  readonly path: string;
  readonly outcome: CacheOutcome;
}

/**
 * A folder of downloaded files named by content: `<dir>/sha256/<hex>`. Whatever was verified once stays
 * usable by any process that shares the folder, so a warm disk never downloads a file twice.
 * Downloads go to a temporary file in the same folder while being hashed and are renamed into place only
 * once size and sha256 match, so a reader never sees a partial file. The temporary file of a process
 * killed mid-download is removed by the next download: left there, such files would fill the disk
 * (Lambda's `/tmp` is 512 MB by default) until every download fails.
 *
 * The folder belongs to one host: whether a temporary file's download still runs is judged by its process id.
 */
export class DiskCache {
  private readonly inflight = new Map<string, Promise<CachedFile>>();

  /** @param dir - the cache folder, created when first needed. */
  constructor(readonly dir: string) {}

  /** Where the content with this sha256 lives once cached. */
  pathOf(sha256: string): string {
    return join(this.dir, 'sha256', sha256);
  }

  /**
   * The verified local path of the content `expected` describes. A cached copy is re-hashed before use
   * and downloaded again if it is corrupt; concurrent calls for one hash share one download.
   *
   * @param open - opens the source stream; called only when a download is needed.
   * @param label - names the file in error messages, e.g. `model "a" version "1" file "model.onnx"`.
   * @throws ChecksumMismatchError when the downloaded content is not what `expected` says.
   * @throws RepositoryUnavailableError when the source stream fails.
   */
  fetch(expected: ExpectedContent, open: () => Promise<Readable>, label: string): Promise<CachedFile> {
    if (!/^[0-9a-f]{64}$/.test(expected.sha256)) {
      return Promise.reject(new Error(`not a sha256: "${expected.sha256}"`));
    }
    const running = this.inflight.get(expected.sha256);
    if (running) return running;
    const work = this.fetchOnce(expected, open, label).finally(() => this.inflight.delete(expected.sha256));
    this.inflight.set(expected.sha256, work);
    return work;
  }

  private async fetchOnce(
    expected: ExpectedContent,
    open: () => Promise<Readable>,
    label: string,
  ): Promise<CachedFile> {
    const target = this.pathOf(expected.sha256);
    if (await matches(target, expected)) return { path: target, outcome: 'cache' };
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    await this.removeStaleParts(expected.sha256);
    const temp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.part`;
    try {
      const actual = await download(open, temp, label);
      if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) {
        throw new ChecksumMismatchError(mismatchMessage(label, expected, actual));
      }
      await rename(temp, target);
    } finally {
      await rm(temp, { force: true });
    }
    return { path: target, outcome: 'download' };
  }

  /**
   * Removes the `.part` files that no running download writes: those of processes that are gone, and this
   * process's own for a hash it is not downloading (its one download per hash is `downloading`'s, about to
   * start, so an older file of that hash is a leftover of a process that had the same id).
   */
  private async removeStaleParts(downloading: string): Promise<void> {
    const folder = join(this.dir, 'sha256');
    for (const name of await readdir(folder)) {
      const part = /^([0-9a-f]{64})\.(\d+)\.[0-9a-f]+\.part$/.exec(name);
      if (!part) continue;
      const [, sha256, pid] = part as unknown as [string, string, string];
      const live =
        Number(pid) === process.pid
          ? sha256 !== downloading && this.inflight.has(sha256)
          : isRunning(Number(pid));
      if (!live) await rm(join(folder, name), { force: true });
    }
  }
}

/** Whether a process with this id runs on this host (one that is not ours to signal runs too). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the file at `path` exists with the expected size and sha256. */
async function matches(path: string, expected: ExpectedContent): Promise<boolean> {
  try {
    if ((await stat(path)).size !== expected.bytes) return false;
  } catch {
    return false;
  }
  return (await sha256File(path)) === expected.sha256;
}

async function download(
  open: () => Promise<Readable>,
  temp: string,
  label: string,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const source = await open();
  let sourceError: unknown;
  source.once('error', (error) => {
    sourceError = error;
  });
  try {
    await pipeline(source, hashing, createWriteStream(temp));
  } catch (error) {
    if (error === sourceError && !(error instanceof InferletError)) {
      // The SDK's or the network's text (and the host it names) is for the log, not the client.
      throw new RepositoryUnavailableError(`downloading ${label} failed`, {
        cause: error,
        detail: (error as Error).message,
      });
    }
    throw error;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** The message of a {@link ChecksumMismatchError}: the file, the expected and the actual hash and size. */
export function mismatchMessage(
  label: string,
  expected: ExpectedContent,
  actual: { bytes: number; sha256: string },
): string {
  return (
    `checksum mismatch for ${label}: expected sha256 ${expected.sha256} (${expected.bytes} bytes), ` +
    `got ${actual.sha256} (${actual.bytes} bytes)`
  );
}
