/**
 * Graceful shutdown (issue 12): SIGTERM in the middle of a load run. `npm start`'s server answers every
 * request it had accepted, refuses new ones with 503, leaves the uploads it had not started for the next
 * start, closes its embedded S3 and exits 0. The SQS poller of the GPU container deletes the messages it
 * processed and leaves the others in the queue: none is deleted unprocessed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  type DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createSqsUploadHandler } from '../../functions/core/adapters/sqs-upload.ts';
import { InferenceService } from '../../functions/core/inference-service.ts';
import { UploadProcessor } from '../../functions/core/uploads/upload-processor.ts';
import { type SqsSender, startSqsPoller } from '../../functions/server/sqs-poller.ts';
import { textClassifyTask } from '../../functions/text/task.ts';
import { hamText, spamText, startTextUploads } from '../core/uploads/text-upload-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { startLocalServer } from '../support/local-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/inferlet-text-uploads';

/**
 * An in-memory SQS queue: received messages are hidden until deleted, or made visible again (their
 * visibility timeout runs out, or ChangeMessageVisibility sets it to 0).
 */
class FakeQueue implements SqsSender {
  readonly visible: Message[] = [];
  readonly inFlight = new Map<string, Message>();
  readonly deleted: string[] = [];
  /** Ids of the messages made visible at once by ChangeMessageVisibilityBatch, in call order. */
  readonly released: string[] = [];
  private wake: (() => void) | undefined;

  put(body: string): void {
    const id = `m${this.visible.length + this.inFlight.size + this.deleted.length + 1}`;
    this.visible.push({ MessageId: id, Body: body, MD5OfBody: 'x', Attributes: {} });
    this.wake?.();
  }

  /** What SQS does when the visibility timeout of the messages in flight runs out. */
  expireVisibility(): void {
    this.visible.push(...this.inFlight.values());
    this.inFlight.clear();
  }

  async send(
    command: ReceiveMessageCommand | DeleteMessageBatchCommand | ChangeMessageVisibilityBatchCommand,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<unknown> {
    if (command instanceof ChangeMessageVisibilityBatchCommand) {
      const entries = command.input.Entries ?? [];
      // SQS takes at most 10 entries per batch call.
      if (entries.length > 10) throw new Error('TooManyEntriesInBatchRequest');
      for (const entry of entries) {
        const message = this.inFlight.get(entry.ReceiptHandle ?? '');
        if (!message || entry.VisibilityTimeout !== 0) continue;
        this.inFlight.delete(entry.ReceiptHandle ?? '');
        this.released.push(message.MessageId ?? '');
        const { ReceiptHandle: _handle, ...visible } = message;
        this.visible.push(visible);
        this.wake?.();
      }
      return { Successful: entries.map((entry) => ({ Id: entry.Id })), Failed: [] };
    }
    if (command instanceof ReceiveMessageCommand) {
      while (this.visible.length === 0) {
        if (options.abortSignal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        await new Promise<void>((resume) => {
          this.wake = resume;
          options.abortSignal?.addEventListener('abort', () => resume(), { once: true });
        });
      }
      const messages = this.visible.splice(0, command.input.MaxNumberOfMessages ?? 1).map((message) => {
        const received = { ...message, ReceiptHandle: `rh-${message.MessageId}-${Math.random()}` };
        this.inFlight.set(received.ReceiptHandle, received);
        return received;
      });
      return { Messages: messages };
    }
    for (const entry of command.input.Entries ?? []) {
      const message = this.inFlight.get(entry.ReceiptHandle ?? '');
      if (message) this.deleted.push(message.MessageId ?? '');
      this.inFlight.delete(entry.ReceiptHandle ?? '');
    }
    return { Successful: command.input.Entries?.map((entry) => ({ Id: entry.Id })), Failed: [] };
  }
}

async function until(condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(await condition()).toBe(true);
}

async function keysUnder(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((object) => object.Key ?? '').sort();
}

/**
 * Uploads `count` texts named `<stem>-<i>.txt` (spam and ham in turn), puts one S3 event message per upload in
 * `queue`, and makes each read of them take ~150 ms; returns the names.
 */
async function queueSlowUploads(
  uploads: Awaited<ReturnType<typeof startTextUploads>>,
  queue: FakeQueue,
  stem: string,
  count: number,
): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${stem}-${i}.txt`);
  for (const [i, name] of names.entries()) {
    const record = await uploads.put(name, i % 2 ? hamText(i) : spamText(i));
    queue.put(JSON.stringify({ Records: [record] }));
  }
  uploads.proxy.inject({ kind: 'delay', ms: 150 }, 100, (method, path) =>
    method === 'GET' ? path.includes('/incoming/') : false,
  );
  return names;
}

describe('the SQS poller on SIGTERM', () => {
  it('deletes the messages it finished, leaves those not started in the queue, and deletes none unprocessed', async () => {
    const uploads = await startTextUploads();
    try {
      const queue = new FakeQueue();
      // Each file takes ~150 ms to read, so that the stop comes in the middle of the batch of 8.
      const names = await queueSlowUploads(uploads, queue, 'drain', 8);
      const poller = startSqsPoller({
        client: queue,
        queueUrls: [QUEUE_URL],
        batchSize: 10,
        handler: uploads.handler(1),
      });

      await until(async () => (await uploads.keys('results/text/drain-')).length >= 2);
      await Promise.all([uploads.service.stop(), poller.stop()]);
      const results = await uploads.keys('results/text/drain-');
      const errors = await uploads.keys('errors/text/drain-');
      const deleted = [...queue.deleted];
      const left = [...queue.inFlight.values()].map((m) => m.MessageId);

      expect(deleted.length).toBeGreaterThanOrEqual(2);
      expect(left.length).toBeGreaterThanOrEqual(1);
      expect(deleted.length + left.length).toBe(names.length);
      // Deleted exactly when processed: message mN carries drain-(N-1).txt.
      expect(results).toEqual(
        deleted.map((id) => `results/text/drain-${Number(id.slice(1)) - 1}.txt.json`).sort(),
      );
      expect(errors).toEqual([]);

      // The messages left come back after their visibility timeout, to a consumer that is not stopping.
      queue.expireVisibility();
      uploads.proxy.clearFaults();
      const service = new InferenceService({
        store: uploads.service.store,
        tasks: [{ definition: textClassifyTask, model: { name: 'spam-fasttext' } }],
      });
      const again = startSqsPoller({
        client: queue,
        queueUrls: [QUEUE_URL],
        batchSize: 10,
        handler: createSqsUploadHandler(new UploadProcessor({ service, s3: uploads.proxiedClient }), 1),
      });
      await until(() => queue.deleted.length === names.length);
      await again.stop();

      expect(await uploads.keys('results/text/drain-')).toHaveLength(names.length);
    } finally {
      await uploads.close();
    }
  }, 60_000);
});

describe('the SQS poller handing messages over one by one, on SIGTERM', () => {
  it('gives the messages it had not begun back to the queue at once, and deletes only those it processed', async () => {
    const uploads = await startTextUploads();
    try {
      const queue = new FakeQueue();
      // One receive takes 10 of the 12; the stop comes after the first two or so are processed.
      const names = await queueSlowUploads(uploads, queue, 'release', 12);
      const poller = startSqsPoller({
        client: queue,
        queueUrls: [QUEUE_URL],
        batchSize: 10,
        concurrency: 1,
        handler: uploads.handler(1),
      });

      await until(async () => (await uploads.keys('results/text/release-')).length >= 2);
      await Promise.all([uploads.service.stop(), poller.stop()]);
      const results = await uploads.keys('results/text/release-');
      const deleted = [...queue.deleted];

      const begun = [...queue.inFlight.values()].map((m) => m.MessageId ?? '');

      // Only the message begun when the stop came (concurrency 1) may wait out its visibility timeout;
      // the others not processed are visible again now.
      expect(begun.length).toBeLessThanOrEqual(1);
      expect(deleted.length).toBeGreaterThanOrEqual(2);
      expect(queue.released.length).toBeGreaterThanOrEqual(1);
      const visible = queue.visible.map((m) => m.MessageId ?? '');
      expect(visible).toEqual(expect.arrayContaining(queue.released));
      const accounted = [...deleted, ...begun, ...visible];
      expect(new Set(accounted).size).toBe(names.length);
      expect(accounted).toHaveLength(names.length);
      expect(results).toEqual(
        deleted.map((id) => `results/text/release-${Number(id.slice(1)) - 1}.txt.json`).sort(),
      );
      expect(await uploads.keys('errors/text/release-')).toEqual([]);

      // Another consumer takes them at once, without any visibility timeout running out.
      uploads.proxy.clearFaults();
      const service = new InferenceService({
        store: uploads.service.store,
        tasks: [{ definition: textClassifyTask, model: { name: 'spam-fasttext' } }],
      });
      const again = startSqsPoller({
        client: queue,
        queueUrls: [QUEUE_URL],
        batchSize: 10,
        concurrency: 2,
        handler: createSqsUploadHandler(new UploadProcessor({ service, s3: uploads.proxiedClient }), 2),
      });
      await until(() => queue.deleted.length === names.length - begun.length);
      await again.stop();

      expect(await uploads.keys('results/text/release-')).toHaveLength(names.length - begun.length);
    } finally {
      await uploads.close();
    }
  }, 60_000);

  it('leaves a message whose processing began and failed for its visibility timeout', async () => {
    const queue = new FakeQueue();
    queue.put('first');
    queue.put('second');
    queue.put('third');
    let stopping: Promise<void> | undefined;
    const poller = startSqsPoller({
      client: queue,
      queueUrls: [QUEUE_URL],
      batchSize: 10,
      concurrency: 1,
      handler: async (event) => {
        // The stop comes while the first message is being processed, and that message fails.
        stopping ??= poller.stop();
        await new Promise((r) => setTimeout(r, 50));
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });

    await until(() => stopping !== undefined);
    await stopping;

    expect(queue.deleted).toEqual([]);
    expect([...queue.inFlight.values()].map((m) => m.MessageId)).toEqual(['m1']);
    expect(queue.released).toEqual(['m2', 'm3']);
  });
});

describe('npm start on SIGTERM during a load run', () => {
  it('answers every accepted request, refuses new ones, leaves unstarted uploads and exits 0', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'inferlet-shutdown-'));
    const port = await freePort();
    const s3Port = await freePort();
    const options = {
      directory,
      port,
      s3Port,
      env: {
        TASKS: 'image/ocr,text/classify',
        // This test is about the drain: every request of the run is accepted, and has time to finish.
        ADMISSION_MAX_WAIT_MS: '60000',
        STOP_TIMEOUT_MS: '50000',
        LOG_LEVEL: 'info',
      },
    };
    const server = await startLocalServer(options);
    const base = `http://127.0.0.1:${port}`;
    try {
      const png = await renderText({
        width: 640,
        height: 240,
        lines: stackLines(
          ['Invoice 2041', 'Total 67.75', 'Paid by card'].map((text) => ({ text, fontSize: 30 })),
        ),
      });
      const ocr = async () => {
        const response = await fetch(`${base}/v1/image/ocr`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: png,
        });
        return {
          status: response.status,
          body: await response.text(),
          retryAfter: response.headers.get('retry-after'),
        };
      };
      expect((await ocr()).status).toBe(200);
      const exited = new Promise<number | null>((resolve) =>
        server.child.once('exit', (code) => resolve(code)),
      );

      const run = Array.from({ length: 12 }, () => ocr());
      const names = Array.from({ length: 6 }, (_, i) => `incoming/text/stop-${i}.txt`);
      for (const [i, key] of names.entries()) {
        await server.s3.send(
          new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: spamText(i), ContentType: 'text/plain' }),
        );
      }
      // Mid-run: the first requests are running, the others queued.
      await new Promise((r) => setTimeout(r, 300));
      server.child.kill('SIGTERM');
      await until(() => server.output.stderr.includes('stopping: draining accepted work'));
      const late = await ocr();
      const ready = await fetch(`${base}/v2/health/ready`);
      const answers = await Promise.all(run);
      const code = await exited;

      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
      expect(JSON.parse(answers[11]?.body ?? '{}').text).toMatch(/Invoice/);
      expect(late.status).toBe(503);
      expect(Number(late.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(ready.status).toBe(503);
      expect(code).toBe(0);
      expect(server.output.stderr).toContain('"message":"drained"');

      // Uploads: each processed, or left in incoming/ for the next start; none given up.
      const restarted = await startLocalServer(options);
      try {
        await until(
          async () => (await keysUnder(restarted.s3, 'uploads', 'results/text/stop-')).length === 6,
          30_000,
        );
        expect(await keysUnder(restarted.s3, 'uploads', 'errors/text/stop-')).toEqual([]);
      } finally {
        await restarted.stop();
      }
    } finally {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    }
  }, 150_000);
});
