/**
 * The SQS poller of the GPU container. No SQS server runs offline (no ElasticMQ or LocalStack here), so the
 * queue is a fake object implementing the one method the poller uses, `send`, with SQS's semantics for what
 * matters: long polls wait for messages or until aborted, received messages are hidden until deleted.
 */
import { type DeleteMessageBatchCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { type SqsSender, sqsRecord, startSqsPoller } from '../../functions/server/sqs-poller.ts';
import { hamText, spamText, startTextUploads } from '../core/uploads/text-upload-fixture.ts';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/inferlet-image-uploads';

/** An in-memory queue: visible messages, in-flight ones by receipt handle, and the calls made. */
class FakeQueue implements SqsSender {
  readonly visible: Message[] = [];
  readonly inFlight = new Map<string, Message>();
  readonly deleted: string[] = [];
  receives = 0;
  private wake: (() => void) | undefined;

  put(body: string): void {
    const id = `m${this.visible.length + this.inFlight.size + this.deleted.length + 1}`;
    this.visible.push({
      MessageId: id,
      Body: body,
      MD5OfBody: 'x',
      Attributes: { ApproximateReceiveCount: '1' },
    });
    this.wake?.();
  }

  async send(
    command: ReceiveMessageCommand | DeleteMessageBatchCommand,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<unknown> {
    if (command instanceof ReceiveMessageCommand) {
      this.receives += 1;
      expect(command.input.QueueUrl).toBe(QUEUE_URL);
      while (this.visible.length === 0) {
        if (options.abortSignal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        await new Promise<void>((resume) => {
          this.wake = resume;
          options.abortSignal?.addEventListener('abort', () => resume(), { once: true });
        });
      }
      const messages = this.visible.splice(0, command.input.MaxNumberOfMessages ?? 1).map((message) => {
        const received = { ...message, ReceiptHandle: `rh-${message.MessageId}-${this.receives}` };
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

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resume) => setTimeout(resume, 10));
  expect(condition()).toBe(true);
}

describe('the upload queue poller', () => {
  it('deletes the messages the handler processed and leaves the failed ones in flight', async () => {
    const queue = new FakeQueue();
    const seen: SQSEvent[] = [];
    queue.put('{"ok":1}');
    queue.put('{"fail":true}');
    queue.put('{"ok":2}');
    const poller = startSqsPoller({
      client: queue,
      queueUrls: [QUEUE_URL],
      batchSize: 10,
      handler: async (event) => {
        seen.push(event);
        return {
          batchItemFailures: event.Records.filter((r) => r.body.includes('fail')).map((r) => ({
            itemIdentifier: r.messageId,
          })),
        };
      },
    });

    await until(() => queue.deleted.length === 2);
    await poller.stop();

    expect(seen).toHaveLength(1);
    expect(seen[0]?.Records.map((r) => r.body)).toEqual(['{"ok":1}', '{"fail":true}', '{"ok":2}']);
    expect(queue.deleted).toEqual(['m1', 'm3']);
    expect([...queue.inFlight.values()].map((m) => m.MessageId)).toEqual(['m2']);
  });

  it('keeps polling after an empty wait and stops promptly while a long poll is waiting', async () => {
    const queue = new FakeQueue();
    const bodies: string[] = [];
    const poller = startSqsPoller({
      client: queue,
      queueUrls: [QUEUE_URL],
      handler: async (event) => {
        bodies.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
    });
    await until(() => queue.receives === 1);
    queue.put('late');
    await until(() => queue.deleted.length === 1);

    const started = Date.now();
    await poller.stop();

    expect(bodies).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('retries after a failed receive instead of giving up', async () => {
    const queue = new FakeQueue();
    let failures = 1;
    const flaky: SqsSender = {
      send: (command, options) => {
        if (command instanceof ReceiveMessageCommand && failures-- > 0)
          return Promise.reject(new Error('throttled'));
        return queue.send(command, options);
      },
    };
    queue.put('after the error');
    const poller = startSqsPoller({
      client: flaky,
      queueUrls: [QUEUE_URL],
      errorBackoffMs: 10,
      handler: async () => ({ batchItemFailures: [] }),
    });

    await until(() => queue.deleted.length === 1);
    await poller.stop();

    expect(queue.deleted).toEqual(['m1']);
  });

  it('deletes the processed messages of a batch and leaves a malformed one in flight, with the real handler', async () => {
    const uploads = await startTextUploads();
    try {
      const queue = new FakeQueue();
      const good = [
        await uploads.put('polled-1.txt', spamText(1)),
        await uploads.put('polled-2.txt', hamText(2)),
      ];
      queue.put(JSON.stringify({ Records: [good[0]] }));
      queue.put(JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put' }] }));
      queue.put(JSON.stringify({ Records: [good[1]] }));
      const poller = startSqsPoller({
        client: queue,
        queueUrls: [QUEUE_URL],
        batchSize: 10,
        handler: uploads.handler(2),
      });

      await until(() => queue.deleted.length === 2);
      await poller.stop();

      expect(queue.deleted).toEqual(['m1', 'm3']);
      expect([...queue.inFlight.values()].map((m) => m.MessageId)).toEqual(['m2']);
      expect(await uploads.keys('results/text/polled-')).toEqual([
        'results/text/polled-1.txt.json',
        'results/text/polled-2.txt.json',
      ]);
    } finally {
      await uploads.close();
    }
  });

  it('hands the handler Lambda-shaped records with the queue ARN and region from the queue URL', () => {
    const record = sqsRecord(QUEUE_URL, {
      MessageId: 'id-1',
      ReceiptHandle: 'rh',
      Body: '{}',
      MD5OfBody: 'md5',
      Attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1700000000000' },
    });

    expect(record).toMatchObject({
      messageId: 'id-1',
      receiptHandle: 'rh',
      body: '{}',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:inferlet-image-uploads',
      awsRegion: 'eu-west-1',
      attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1700000000000' },
    });
  });
});
