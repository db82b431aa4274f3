import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3 } from '../../functions/server/embedded-s3.ts';
import { freePort } from '../support/free-port.ts';
import { readJson } from '../support/http-server.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';

describe('npm start: the local server on the embedded default', () => {
  let work: string;
  let port: number;
  let s3Port: number;
  let server: LocalServer | undefined;
  let client: S3Client;

  const start = async () => {
    server = await startLocalServer({ directory: work, port, s3Port });
  };
  const stop = async () => {
    await server?.stop();
  };
  const waitForObject = async (key: string) => {
    for (let i = 0; i < 200; i++) {
      try {
        const { Body } = await client.send(new GetObjectCommand({ Bucket: 'uploads', Key: key }));
        return JSON.parse(await (Body as { transformToString(): Promise<string> }).transformToString());
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`${key} did not appear`);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-local-'));
    [port, s3Port] = [await freePort(), await freePort()];
    await start();
    client = (server as LocalServer).s3;
  }, 120_000);

  afterAll(async () => {
    await stop();
    await rm(work, { recursive: true, force: true });
  });

  it('serves the models through the S3 path of its embedded bucket and prints how to use it', async () => {
    const index = await readJson(
      await fetch(`http://127.0.0.1:${port}/v2/repository/index`, { method: 'POST' }),
    );

    expect(server?.output.stdout).toContain('models from s3://models/');
    expect(server?.output.stdout).toContain(`Embedded S3 at http://127.0.0.1:${s3Port}`);
    expect(server?.output.stdout).toMatch(
      /curl -T \S+ http:\/\/127\.0\.0\.1:\d+\/uploads\/incoming\/image\//,
    );
    expect(index).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'ppocr-v4-det', state: 'READY' })]),
    );
  });

  it('turns an image uploaded to incoming/image/ into results/image/<key>.json', async () => {
    const page = await renderText({
      width: 520,
      height: 110,
      lines: stackLines([{ text: 'local upload 42', fontSize: 34 }]),
    });

    await client.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'incoming/image/local one.png', Body: page }),
    );

    expect((await waitForObject('results/image/local one.png.json')).text).toBe('local upload 42');
  });

  it('keeps its data across a restart and processes what was uploaded while it was down', async () => {
    await stop();
    const s3 = await startEmbeddedS3({ directory: join(work, 'data'), port: s3Port, buckets: ['uploads'] });
    const page = await renderText({
      width: 520,
      height: 110,
      lines: stackLines([{ text: 'while down 7', fontSize: 34 }]),
    });
    await client.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'incoming/image/backlog.png', Body: page }),
    );
    await s3.stop();

    await start();

    expect((await waitForObject('results/image/backlog.png.json')).text).toBe('while down 7');
    expect((await waitForObject('results/image/local one.png.json')).text).toBe('local upload 42');
  }, 120_000);
});
