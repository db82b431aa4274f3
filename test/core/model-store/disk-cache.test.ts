import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumMismatchError, RepositoryUnavailableError } from '../../../functions/core/errors.ts';
import { DiskCache } from '../../../functions/core/model-store/disk-cache.ts';

const content = Buffer.from('weights'.repeat(1000));
const expected = { bytes: content.length, sha256: createHash('sha256').update(content).digest('hex') };

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'disk-cache-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('DiskCache', () => {
  it('shares one download among concurrent fetches of the same content', async () => {
    const cache = new DiskCache(join(work, 'shared'));
    let opened = 0;
    const open = async () => {
      opened += 1;
      return Readable.from([content.subarray(0, 100), content.subarray(100)]);
    };

    const files = await Promise.all([1, 2, 3].map(() => cache.fetch(expected, open, 'file "w"')));
    const again = await cache.fetch(expected, open, 'file "w"');

    expect(opened).toBe(1);
    expect(files.map((f) => f.outcome)).toEqual(['download', 'download', 'download']);
    expect(again).toEqual({ path: cache.pathOf(expected.sha256), outcome: 'cache' });
  });

  it('answers RepositoryUnavailableError and leaves no partial file when the download breaks', async () => {
    const cache = new DiskCache(join(work, 'broken'));
    const open = async () =>
      Readable.from(
        (async function* () {
          yield content.subarray(0, 100);
          throw new Error('socket hang up');
        })(),
      );

    const failure = await cache.fetch(expected, open, 'file "w"').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(RepositoryUnavailableError);
    expect((failure as Error).message).toBe('downloading file "w" failed');
    expect((failure as RepositoryUnavailableError).detail).toBe('socket hang up');
    expect(await readdir(join(work, 'broken', 'sha256'))).toEqual([]);
  });

  it('refuses content of another size and keeps nothing of it', async () => {
    const cache = new DiskCache(join(work, 'short'));
    const open = async () => Readable.from([content.subarray(1)]);

    const failure = await cache.fetch(expected, open, 'file "w"').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ChecksumMismatchError);
    expect((failure as Error).message).toMatch(
      new RegExp(`expected sha256 ${expected.sha256} \\(7000 bytes\\), got [0-9a-f]{64} \\(6999 bytes\\)`),
    );
    expect(await readdir(join(work, 'short', 'sha256'))).toEqual([]);
  });
});
