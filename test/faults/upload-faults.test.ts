/**
 * Faults of S3 and the network while uploads are processed, injected by a proxy in front of s3rver, through
 * the real SQS upload handler: retryable faults become batch item failures (never lost, never an `errors/`
 * record), a redelivery completes them, and every upload ends with exactly one result or error record.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRepository } from '../../functions/core/model-store/publish.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import {
  deliverUntilAcknowledged,
  hamText,
  spamText,
  startTextUploads,
  type TextUploads,
} from '../core/uploads/text-upload-fixture.ts';
import type { RequestMatch } from '../support/faulty-proxy.ts';
import { sqsMessage } from '../support/s3-events.ts';

const request =
  (wanted: string, key: string): RequestMatch =>
  (method, path) =>
    method === wanted && path === `/uploads/${key}`;

/** Each upload has exactly one of `results/text/<name>.json` and `errors/text/<name>.json`. */
async function recordsPerUpload(uploads: TextUploads, names: readonly string[]) {
  const results = new Set(await uploads.keys('results/text/'));
  const errors = new Set(await uploads.keys('errors/text/'));
  return Object.fromEntries(
    names.map((name) => [
      name,
      [
        ...(results.has(`results/text/${name}.json`) ? ['result'] : []),
        ...(errors.has(`errors/text/${name}.json`) ? ['error'] : []),
      ],
    ]),
  );
}

describe('upload processing through a faulty S3', () => {
  let uploads: TextUploads;

  beforeAll(async () => {
    uploads = await startTextUploads();
  });

  afterAll(async () => {
    await uploads?.close();
  });

  it('turns 5xx, resets and truncated reads into retries and ends with one record per upload', async () => {
    const jsonl = [spamText(6), hamText(6), spamText(60)].map((text) => JSON.stringify({ text })).join('\n');
    const files: Record<string, string> = {
      'get-5xx-0.txt': spamText(0),
      'get-5xx-1.txt': hamText(1),
      'head-reset-0.txt': spamText(2),
      'head-reset-1.txt': hamText(3),
      'truncated.jsonl': jsonl,
      'slow.txt': hamText(7),
      'result-put-503.txt': spamText(8),
      'garbage-error-put-500.jsonl': '{"text": "unclosed\n',
      'garbage.jsonl': 'not json\n',
    };
    for (let i = 0; i < 11; i++) files[`plain-${i}.txt`] = i % 2 ? spamText(100 + i) : hamText(100 + i);
    const names = Object.keys(files);
    const records = [];
    for (const name of names) records.push(await uploads.put(name, files[name] as string));
    const messages = records.map((record) => sqsMessage({ Records: [record] }));
    const idOf = (name: string) => messages[names.indexOf(name)]?.messageId;
    // Three faults outlast the SDK's three attempts, so the failure reaches the handler.
    const { proxy } = uploads;
    proxy.inject({ kind: 'status', status: 500 }, 3, request('GET', 'incoming/text/get-5xx-0.txt'));
    proxy.inject({ kind: 'status', status: 503 }, 3, request('GET', 'incoming/text/get-5xx-1.txt'));
    proxy.inject({ kind: 'reset' }, 3, request('HEAD', 'incoming/text/head-reset-0.txt'));
    proxy.inject({ kind: 'reset' }, 3, request('HEAD', 'incoming/text/head-reset-1.txt'));
    // Half a JSONL file would be refused as malformed if a short read went unnoticed.
    proxy.inject({ kind: 'truncate', bytes: 40 }, 1, request('GET', 'incoming/text/truncated.jsonl'));
    proxy.inject({ kind: 'delay', ms: 300 }, 1, request('GET', 'incoming/text/slow.txt'));
    proxy.inject({ kind: 'status', status: 503 }, 3, request('PUT', 'results/text/result-put-503.txt.json'));
    proxy.inject(
      { kind: 'status', status: 500 },
      3,
      request('PUT', 'errors/text/garbage-error-put-500.jsonl.json'),
    );

    const { failedPerRound } = await deliverUntilAcknowledged(uploads.handler(4), messages, {
      batchSize: 10,
    });

    expect(failedPerRound).toHaveLength(2);
    expect(failedPerRound[0]?.sort()).toEqual(
      [
        'get-5xx-0.txt',
        'get-5xx-1.txt',
        'head-reset-0.txt',
        'head-reset-1.txt',
        'truncated.jsonl',
        'result-put-503.txt',
        'garbage-error-put-500.jsonl',
      ]
        .map(idOf)
        .sort(),
    );
    expect(failedPerRound[1]).toEqual([]);
    const expected = Object.fromEntries(names.map((name) => [name, ['result']]));
    expected['garbage.jsonl'] = ['error'];
    expected['garbage-error-put-500.jsonl'] = ['error'];
    expect(await recordsPerUpload(uploads, names)).toEqual(expected);
    expect((await uploads.readJson('results/text/truncated.jsonl.json')).results).toHaveLength(3);
    expect(await uploads.readJson('errors/text/garbage.jsonl.json')).toMatchObject({ status: 400 });
    // One successful write per record: the injected failures plus one.
    for (const name of names) {
      const key = `${expected[name]?.[0] === 'result' ? 'results' : 'errors'}/text/${name}.json`;
      const injected = name === 'result-put-503.txt' || name === 'garbage-error-put-500.jsonl' ? 3 : 0;
      expect(proxy.count(request('PUT', key)), key).toBe(injected + 1);
    }
  });
});

describe('upload processing while the model repository is failing', () => {
  let uploads: TextUploads;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-upload-model-faults-'));
    await cp(resolve('models/spam-fasttext'), join(work, 'repository', 'spam-fasttext'), { recursive: true });
    uploads = await startTextUploads({
      buckets: ['models'],
      store: (proxiedClient) =>
        createModelStore({
          repository: 's3://models/',
          s3Client: proxiedClient,
          cacheDir: join(work, 'cache'),
          // The int8 variant: a quarter of the bytes to copy through the proxy.
          tier: 'lambda',
        }),
    });
    await publishRepository({ from: join(work, 'repository'), to: 's3://models/', client: uploads.client });
  });

  afterAll(async () => {
    await uploads?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('leaves uploads in the queue while the model cannot load, writes no error, and processes them after', async () => {
    const names = ['outage-0.txt', 'outage-1.txt', 'outage-2.txt'];
    const messages = [];
    for (const [i, name] of names.entries())
      messages.push(sqsMessage({ Records: [await uploads.put(name, spamText(200 + i))] }));
    const weights: RequestMatch = (method, path) =>
      method === 'GET' && path === '/models/spam-fasttext/2/model-int8.onnx';
    // An outage through the first delivery: each message's load tries once (three SDK attempts) and fails.
    uploads.proxy.inject({ kind: 'status', status: 500 }, 9, weights);
    const handler = uploads.handler(1);

    const first = await handler({ Records: messages });
    const requestsInOutage = uploads.proxy.count(weights);
    const errorsAfterOutage = await uploads.keys('errors/');
    const second = await handler({ Records: messages });

    expect(first.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(messages.map((m) => m.messageId));
    expect(errorsAfterOutage).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(await recordsPerUpload(uploads, names)).toEqual(
      Object.fromEntries(names.map((name) => [name, ['result']])),
    );
    expect(requestsInOutage).toBe(9);
    expect(uploads.proxy.count(weights)).toBe(10);
  });
});
