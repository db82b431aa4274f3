/**
 * The upload handler on Powertools' batch processor: how one SQS batch of AWS-shaped records (S3 events,
 * S3's test event, malformed bodies) is split into acknowledged messages and batch item failures, with the
 * text model over s3rver.
 */
import type { S3EventRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsUploadHandler } from '../../../functions/core/adapters/sqs-upload.ts';
import { S3_TEST_EVENT, sqsEvent, sqsMessage } from '../../support/s3-events.ts';
import { hamText, spamText, startTextUploads, type TextUploads } from './text-upload-fixture.ts';

describe('the upload handler on a batch of SQS messages', () => {
  let uploads: TextUploads;

  beforeAll(async () => {
    uploads = await startTextUploads();
  });

  afterAll(async () => {
    await uploads?.close();
  });

  it('fails only the malformed messages of a batch and processes their neighbours', async () => {
    const first = await uploads.put('first.txt', spamText(1));
    const second = await uploads.put('second.txt', hamText(2));
    // An S3 record with an event name but no `s3` part: it once failed the whole batch.
    const { s3: _dropped, ...withoutS3 } = await uploads.put('never-named.txt', hamText(3));
    const malformed = sqsMessage({ Records: [withoutS3] });
    const notJson = sqsMessage('not json at all');
    const notS3 = sqsMessage({ hello: 'world' });
    const noRecords = sqsMessage({ Records: [] });
    const badKey = sqsMessage({
      Records: [
        { ...first, s3: { ...first.s3, object: { ...first.s3.object, key: 'incoming/text/%E0%A4%A' } } },
      ],
    });

    const response = await uploads.handler(2)(
      sqsEvent(
        sqsMessage({ Records: [first] }),
        malformed,
        notJson,
        sqsMessage(S3_TEST_EVENT),
        notS3,
        noRecords,
        badKey,
        sqsMessage({ Records: [second] }),
      ),
    );

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      [malformed, notJson, notS3, noRecords, badKey].map((m) => m.messageId).sort(),
    );
    expect(await uploads.readJson('results/text/first.txt.json')).toMatchObject({
      model: 'spam-fasttext@2',
      results: [{ label: 'spam' }],
      source: { key: 'incoming/text/first.txt', etag: first.s3.object.eTag },
    });
    expect(await uploads.readJson('results/text/second.txt.json')).toMatchObject({
      results: [{ label: 'ham' }],
    });
    expect(await uploads.keys('results/text/never-named')).toEqual([]);
  });

  it('reports every message of a batch whose messages all fail, instead of throwing', async () => {
    const a = sqsMessage('{');
    const b = sqsMessage({ Records: [{ eventName: 'ObjectCreated:Put' }] });

    const response = await uploads.handler(1)(sqsEvent(a, b));

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: a.messageId },
      { itemIdentifier: b.messageId },
    ]);
  });

  it('acknowledges records other than ObjectCreated without processing them', async () => {
    const created = await uploads.put('removed-later.txt', hamText(4));
    const removed: S3EventRecord = { ...created, eventName: 'ObjectRemoved:Delete' };
    const before = uploads.proxy.seen.length;

    const response = await uploads.handler(1)(sqsEvent(sqsMessage({ Records: [removed] })));

    expect(response.batchItemFailures).toEqual([]);
    expect(uploads.proxy.seen.length).toBe(before);
  });

  it('processes at most `concurrency` messages at once', async () => {
    const records = await Promise.all(
      Array.from({ length: 6 }, (_, i) => uploads.put(`paced-${i}.txt`, hamText(10 + i))),
    );
    // Slow answers keep every message busy long enough to overlap with all the others it may.
    uploads.proxy.inject({ kind: 'delay', ms: 60 }, 1000, (method) => method === 'HEAD');
    uploads.proxy.resetPeak();

    const response = await uploads.handler(2)(sqsEvent(...records.map((r) => sqsMessage({ Records: [r] }))));
    uploads.proxy.clearFaults();

    expect(response.batchItemFailures).toEqual([]);
    // Each message sends one request at a time, so requests in flight are messages in flight.
    expect(uploads.proxy.peakInFlight).toBe(2);
    expect(await uploads.keys('results/text/paced-')).toHaveLength(6);
  });

  it('refuses a concurrency that would process nothing', () => {
    expect(() => createSqsUploadHandler(uploads.processor, Number.NaN)).toThrow(/positive integer, got NaN/);
    expect(() => createSqsUploadHandler(uploads.processor, 0)).toThrow(RangeError);
  });
});
