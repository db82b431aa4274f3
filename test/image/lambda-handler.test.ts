import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpHandler } from '../../functions/core/adapters/lambda-http.ts';
import { bundleFunction } from '../../scripts/bundle.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { pngHeaderOnly } from '../support/bad-images.ts';
import { renderText, stackLines } from '../support/render-text.ts';

describe.each([
  ['the TypeScript source', 'source'],
  ['the esbuild bundle', 'bundle'],
] as const)('the image Lambda HTTP handler, from %s', (_label, form) => {
  let handler: HttpHandler;
  let cacheDir: string;
  let bundleDir: string | undefined;
  let page: Uint8Array;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-lambda-'));
    process.env.MODEL_REPOSITORY = resolve('models');
    process.env.MODEL_CACHE_DIR = cacheDir;
    if (form === 'bundle') {
      // Inside the checkout, so the external onnxruntime-node and sharp resolve as a layer would provide them.
      await mkdir('dist', { recursive: true });
      bundleDir = await mkdtemp(resolve('dist/test-bundle-'));
      const file = await bundleFunction('functions/image/handler.ts', join(bundleDir, 'index.mjs'));
      ({ handler } = (await import(file)) as { handler: HttpHandler });
    } else {
      ({ handler } = await import('../../functions/image/handler.ts'));
    }
    page = await renderText({
      width: 560,
      height: 120,
      lines: stackLines([{ text: 'ship to berlin 10115', fontSize: 34 }]),
    });
  });

  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
  });

  it('reads a base64-encoded PNG body and answers as the server does', async () => {
    const response = await handler(
      httpApiEvent('POST', '/v1/image/ocr', { body: page, contentType: 'image/png' }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body ?? '');
    expect(body.model).toBe('ppocr-v4@3');
    expect(body.text).toBe('ship to berlin 10115');
    expect(body.lines[0].box).toHaveLength(4);
  });

  it('reads a JSON body that is not base64-encoded', async () => {
    const json = JSON.stringify({ image: Buffer.from(page).toString('base64') });

    const response = await handler(
      httpApiEvent('POST', '/v1/image/ocr', { body: json, contentType: 'application/json', base64: false }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? '').text).toBe('ship to berlin 10115');
  });

  it.each([
    ['garbage bytes', () => new Uint8Array(512).fill(7), 'image/png', 422],
    ['a 20000x20000 header', () => pngHeaderOnly(20000, 20000), 'image/png', 413],
    ['an unsupported type', () => page, 'application/pdf', 415],
  ] as const)('answers %s with a JSON %i', async (_label, body, contentType, status) => {
    const response = await handler(
      httpApiEvent('POST', '/v1/image/ocr', { body: body(), contentType }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(status);
    expect(typeof JSON.parse(response.body ?? '').error).toBe('string');
  });

  it('serves the OIP health and index routes', async () => {
    const live = await handler(httpApiEvent('GET', '/v2/health/live'), lambdaContext());
    const index = await handler(
      httpApiEvent('POST', '/v2/repository/index', {
        body: '{}',
        contentType: 'application/json',
        base64: false,
      }),
      lambdaContext(),
    );

    expect(live.statusCode).toBe(200);
    expect(JSON.parse(index.body ?? '[]').map((m: { name: string }) => m.name)).toContain('ppocr-v4-det');
  });
});
