/**
 * S3 and SQS deliver at least once: the same S3 event can arrive as two messages, and a message can come
 * back after its visibility timeout. 200 uploads, each delivered two or three times in shuffled batches that
 * overlap, through the real handler against s3rver: each object is read and processed once, its result
 * written once and naming the ETag it was made from.
 */
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hamText,
  spamText,
  startTextUploads,
  type TextUploads,
} from '../core/uploads/text-upload-fixture.ts';
import { sqsMessage } from '../support/s3-events.ts';

const UPLOADS = 200;

/** A small deterministic generator (mulberry32), so a failure reproduces with the same order. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('200 uploads with duplicate events', () => {
  let uploads: TextUploads;

  beforeAll(async () => {
    uploads = await startTextUploads();
  });

  afterAll(async () => {
    await uploads?.close();
  });

  it('processes each object once and writes one result naming its ETag', async () => {
    const next = random(9);
    const names = Array.from({ length: UPLOADS }, (_, i) => `dup-${String(i).padStart(3, '0')}.txt`);
    const records = await Promise.all(
      names.map((name, i) => uploads.put(name, i % 3 ? hamText(i) : spamText(i))),
    );
    const deliveries: SQSRecord[] = [];
    for (const record of records) {
      const message = sqsMessage({ Records: [record] });
      deliveries.push(message);
      // S3 sending the event again (a new message) and SQS delivering the same message again.
      deliveries.push(sqsMessage({ Records: [record] }));
      if (next() < 0.5) deliveries.push({ ...message, receiptHandle: `${message.receiptHandle}-again` });
    }
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j] as SQSRecord, deliveries[i] as SQSRecord];
    }
    const batches: SQSRecord[][] = [];
    for (let i = 0; i < deliveries.length; i += 10) batches.push(deliveries.slice(i, i + 10));
    const handler = uploads.handler(4);

    // Three batches in flight at once, as a poller or a busy event source mapping would have them.
    const failures: string[] = [];
    const lanes = Array.from({ length: 3 }, async (_, lane) => {
      for (let b = lane; b < batches.length; b += 3) {
        const { batchItemFailures } = await handler({ Records: batches[b] as SQSRecord[] });
        failures.push(...batchItemFailures.map((f) => f.itemIdentifier));
      }
    });
    await Promise.all(lanes);

    expect(failures).toEqual([]);
    const reads = names.map((name) =>
      uploads.proxy.count((m, p) => m === 'GET' && p === `/uploads/incoming/text/${name}`),
    );
    const writes = names.map((name) =>
      uploads.proxy.count((m, p) => m === 'PUT' && p === `/uploads/results/text/${name}.json`),
    );
    expect(reads.filter((n) => n !== 1)).toEqual([]);
    expect(writes.filter((n) => n !== 1)).toEqual([]);
    expect(await uploads.keys('errors/')).toEqual([]);
    const sample = [0, 1, 99, 199];
    for (const i of sample) {
      const result = await uploads.readJson(`results/text/${names[i]}.json`);
      expect(result).toMatchObject({
        source: { key: `incoming/text/${names[i]}`, etag: records[i]?.s3.object.eTag },
        results: [{ label: i % 3 ? 'ham' : 'spam' }],
      });
    }
  });
});
