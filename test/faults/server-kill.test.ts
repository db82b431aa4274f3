/**
 * `npm start`'s server (embedded S3, local upload delivery) killed with SIGKILL in the middle of a burst of
 * uploads, then started again on the same data folder: every upload that S3 accepted ends with exactly
 * one result or error record, and none is processed twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hamText, spamText } from '../core/uploads/text-upload-fixture.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';

const BURST = 80;

async function keysUnder(client: S3Client, prefix: string): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: 'uploads', Prefix: prefix }));
  return (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
}

/** Resolves once nothing accepts connections on `port` (the killed server's S3 child has exited). */
async function portClosed(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} still open`);
}

/** The `upload` log lines of a server's stderr: key and status of each processed message. */
function uploadLogs(server: LocalServer): { key: string; status: string }[] {
  return server.output.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { message?: string; key?: string; status?: string })
    .filter((entry) => entry.message === 'upload')
    .map((entry) => ({ key: entry.key ?? '', status: entry.status ?? '' }));
}

describe('a server killed mid-burst of uploads and started again', () => {
  let work: string;
  let port: number;
  let s3Port: number;
  const servers: LocalServer[] = [];

  const start = async () => {
    const server = await startLocalServer({
      directory: work,
      port,
      s3Port,
      env: { TASKS: 'text/classify', LOG_LEVEL: 'info' },
    });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-kill-'));
    [port, s3Port] = [await freePort(), await freePort()];
  });

  afterAll(async () => {
    for (const server of servers) await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('ends every accepted upload with exactly one record, none processed twice', async () => {
    const first = await start();
    const accepted: string[] = [];
    let killed = false;
    const burst = (async () => {
      for (let i = 0; i < BURST && !killed; i++) {
        const key = `incoming/text/burst-${String(i).padStart(3, '0')}.txt`;
        try {
          await first.s3.send(
            new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: i % 2 ? spamText(i) : hamText(i) }),
          );
          accepted.push(key);
        } catch {
          // The server died under this upload: S3 may or may not have stored it.
        }
      }
    })();
    // Kill once processing is under way and uploads are still arriving.
    while ((await keysUnder(first.s3, 'results/text/')).length < 5)
      await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    killed = true;
    await burst;
    await new Promise((resolve) =>
      first.child.exitCode === null && first.child.signalCode === null
        ? first.child.once('exit', resolve)
        : resolve(undefined),
    );
    await portClosed(s3Port);
    const resultsAtKill = uploadLogs(first).filter((l) => l.status === 'processed').length;

    const second = await start();
    const stored = await keysUnder(second.s3, 'incoming/text/');
    const recordOf = (key: string) => key.replace(/^incoming\//, '');
    for (let i = 0; i < 300; i++) {
      const records = new Set([
        ...(await keysUnder(second.s3, 'results/text/')),
        ...(await keysUnder(second.s3, 'errors/text/')),
      ]);
      if (stored.every((key) => records.has(`results/${recordOf(key)}.json`))) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const results = new Set(await keysUnder(second.s3, 'results/text/'));
    const errors = await keysUnder(second.s3, 'errors/text/');
    const processed = [...uploadLogs(first), ...uploadLogs(second)].filter((l) => l.status === 'processed');
    const processedTwice = stored.filter((key) => processed.filter((l) => l.key === key).length > 1);
    expect(resultsAtKill).toBeLessThan(accepted.length);
    expect(stored).toEqual(expect.arrayContaining(accepted));
    expect(stored.filter((key) => !results.has(`results/${recordOf(key)}.json`))).toEqual([]);
    expect(results.size).toBe(stored.length);
    expect(errors).toEqual([]);
    expect(processedTwice).toEqual([]);
  }, 120_000);
});
