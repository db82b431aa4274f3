/**
 * Issue 10, finding 6: re-uploading a key, good file then bad (or bad then good), left the new record and
 * the previous version's record in the other prefix, so a client reading `results/` saw an old success.
 * Each key now has one record: the new one is written first, then the other removed.
 */
import type { S3EventRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  spamText,
  startTextUploads,
  type TextUploads,
  UPLOADS_BUCKET,
} from '../core/uploads/text-upload-fixture.ts';
import { sqsMessage } from '../support/s3-events.ts';

/** Over the fixture's 64 KiB upload limit: refused into `errors/` with a 413. */
const tooLarge = 'x'.repeat(70 * 1024);

describe('re-uploading a key whose outcome changes', () => {
  let uploads: TextUploads;

  beforeAll(async () => {
    uploads = await startTextUploads();
  });

  afterAll(async () => {
    await uploads?.close();
  });

  const deliver = (record: S3EventRecord) =>
    uploads.handler()({ Records: [sqsMessage({ Records: [record] })] });
  const recordsOf = async (name: string) => ({
    results: await uploads.keys(`results/text/${name}`),
    errors: await uploads.keys(`errors/text/${name}`),
  });

  it('keeps only the error record when a good file is replaced by a bad one', async () => {
    await deliver(await uploads.put('good-then-bad.txt', spamText(1)));
    expect((await recordsOf('good-then-bad.txt')).results).toHaveLength(1);

    const response = await deliver(await uploads.put('good-then-bad.txt', tooLarge));

    expect(response.batchItemFailures).toEqual([]);
    expect(await recordsOf('good-then-bad.txt')).toEqual({
      results: [],
      errors: ['errors/text/good-then-bad.txt.json'],
    });
  });

  it('keeps only the result when a bad file is replaced by a good one', async () => {
    await deliver(await uploads.put('bad-then-good.txt', tooLarge));
    expect((await recordsOf('bad-then-good.txt')).errors).toHaveLength(1);

    const response = await deliver(await uploads.put('bad-then-good.txt', spamText(2)));

    expect(response.batchItemFailures).toEqual([]);
    expect(await recordsOf('bad-then-good.txt')).toEqual({
      results: ['results/text/bad-then-good.txt.json'],
      errors: [],
    });
    expect(await uploads.readJson('results/text/bad-then-good.txt.json')).toMatchObject({
      results: [{ label: 'spam' }],
    });
  });

  it('writes the new record before it removes the old one, and removes it on the redelivery if that failed', async () => {
    await deliver(await uploads.put('delete-fails.txt', spamText(3)));
    const resultKey = `/${UPLOADS_BUCKET}/results/text/delete-fails.txt.json`;
    uploads.proxy.failNext(3, (method, path) => method === 'DELETE' && path === resultKey);
    const bad = await uploads.put('delete-fails.txt', tooLarge);

    const first = await deliver(bad);
    const afterFirst = await recordsOf('delete-fails.txt');
    const second = await deliver(bad);

    expect(first.batchItemFailures).toHaveLength(1);
    expect(afterFirst).toEqual({
      results: ['results/text/delete-fails.txt.json'],
      errors: ['errors/text/delete-fails.txt.json'],
    });
    expect(second.batchItemFailures).toEqual([]);
    expect(await recordsOf('delete-fails.txt')).toEqual({
      results: [],
      errors: ['errors/text/delete-fails.txt.json'],
    });
  });

  it('sends no delete when the key has no record of the other kind', async () => {
    const before = uploads.proxy.seen.length;

    await deliver(await uploads.put('first-time.txt', spamText(4)));

    expect(uploads.proxy.seen.slice(before).filter((r) => r.startsWith('DELETE'))).toEqual([]);
  });
});
