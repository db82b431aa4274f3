import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { imageOcrTask } from '../../../functions/image/task.ts';
import { pngHeaderOnly } from '../../support/bad-images.ts';
import { readJson, startTestServer, type TestServer } from '../../support/http-server.ts';
import { renderText, stackLines } from '../../support/render-text.ts';

const MAX_BODY = 1024 * 1024;

describe('POST /v1/image/ocr', () => {
  let server: TestServer;
  let cacheDir: string;
  let page: Uint8Array;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-http-'));
    const store = createModelStore({ repository: 'models', cacheDir });
    server = await startTestServer({
      tasks: [{ definition: imageOcrTask, model: { name: 'ppocr-v4' } }],
      store,
      maxBodyBytes: MAX_BODY,
    });
    page = await renderText({
      width: 640,
      height: 200,
      lines: stackLines([
        { text: 'invoice number 4821', fontSize: 32 },
        { text: 'total due 77.50', fontSize: 32 },
      ]),
    });
  });

  afterAll(async () => {
    await server?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const post = (body: Uint8Array | string, contentType?: string) =>
    fetch(`${server.url}/v1/image/ocr`, {
      method: 'POST',
      body,
      headers: contentType ? { 'content-type': contentType } : {},
    });

  it('reads the lines of a raw PNG body in reading order, with model, size, boxes and stage timings', async () => {
    const response = await post(page, 'image/png');

    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body.model).toBe('ppocr-v4@3');
    expect([body.width, body.height]).toEqual([640, 200]);
    expect(body.lines.map((l: { text: string }) => l.text)).toEqual([
      'invoice number 4821',
      'total due 77.50',
    ]);
    expect(body.text).toBe('invoice number 4821\ntotal due 77.50');
    for (const line of body.lines) {
      expect(line.confidence).toBeGreaterThan(0.8);
      expect(line.box).toHaveLength(4);
    }
    for (const stage of ['decode', 'preprocess', 'inference', 'postprocess', 'total']) {
      expect(body.timings[stage]).toBeGreaterThanOrEqual(0);
    }
  });

  it('reads an image sent as base64 in a JSON body', async () => {
    const response = await post(
      JSON.stringify({ image: Buffer.from(page).toString('base64') }),
      'application/json',
    );

    expect(response.status).toBe(200);
    expect((await readJson(response)).text).toBe('invoice number 4821\ntotal due 77.50');
  });

  it('reads a raw body sent without a content type, by its signature', async () => {
    const response = await post(page, undefined);

    expect(response.status).toBe(200);
    expect((await readJson(response)).lines).toHaveLength(2);
  });

  const badRequests: [string, number, () => Uint8Array | string, string | undefined][] = [
    ['an empty body', 400, () => new Uint8Array(), 'image/png'],
    ['a truncated PNG', 422, () => page.subarray(0, Math.floor(page.length / 2)), 'image/png'],
    ['garbage bytes labelled as JPEG', 422, () => new Uint8Array(4096).fill(0x5a), 'image/jpeg'],
    ['a text/plain body', 415, () => new TextEncoder().encode('hello'), 'text/plain'],
    ['broken JSON', 400, () => '{"image": "abc', 'application/json'],
    ['JSON without an image field', 400, () => '{"picture": "abc"}', 'application/json'],
    ['JSON whose image is not base64', 400, () => '{"image": "***"}', 'application/json'],
    ['a JSON array', 400, () => '[1,2,3]', 'application/json'],
    ['a body over the limit', 413, () => new Uint8Array(MAX_BODY + 1), 'image/png'],
    ['a PNG declaring 20000x20000 pixels', 413, () => pngHeaderOnly(20000, 20000), 'image/png'],
  ];

  it.each(badRequests)('answers %s with a JSON error and status %i', async (_label, status, body, type) => {
    const response = await post(body(), type);

    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    const json = await readJson(response);
    expect(typeof json.error).toBe('string');
    expect(json.error.length).toBeGreaterThan(0);
  });

  it('keeps serving after a burst of bad requests', async () => {
    // A server may close the socket on a body it refuses before reading it all: the client then sees a
    // reset rather than the 413, so the burst only has to settle.
    await Promise.allSettled([
      post(new Uint8Array(100).fill(1), 'image/png'),
      post('{', 'application/json'),
      post(pngHeaderOnly(20000, 20000), 'image/png'),
      post(new Uint8Array(MAX_BODY * 2), 'image/webp'),
    ]);

    const response = await post(page, 'image/png');

    expect(response.status).toBe(200);
    expect((await readJson(response)).lines).toHaveLength(2);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const response = await fetch(`${server.url}/v1/image/nope`, { method: 'POST', body: page });

    expect(response.status).toBe(404);
    expect((await readJson(response)).error).toMatch(/no route/);
  });
});
