import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpHandler } from '../../functions/core/adapters/lambda-http.ts';
import { bundleFunction } from '../../scripts/bundle.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { type SpamTestModel, writeSpamTestModel } from '../support/text-models.ts';

describe.each([
  ['the TypeScript source', 'source'],
  ['the esbuild bundle', 'bundle'],
] as const)('the text Lambda HTTP handler, from %s', (_label, form) => {
  let handler: HttpHandler;
  let dir: string;
  let bundleDir: string | undefined;
  let trained: SpamTestModel;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-lambda-'));
    trained = await writeSpamTestModel(dir);
    process.env.MODEL_REPOSITORY = join(dir, 'repository');
    process.env.MODEL_CACHE_DIR = join(dir, 'cache');
    process.env.MODEL_TEXT_CLASSIFY = 'spam-small@1';
    process.env.MODEL_TIER = 'lambda';
    process.env.TEXT_MAX_TEXTS = '4';
    if (form === 'bundle') {
      // Inside the checkout, so the external onnxruntime-node resolves as the layer would provide it.
      await mkdir('dist', { recursive: true });
      bundleDir = await mkdtemp(resolve('dist/test-bundle-text-'));
      const file = await bundleFunction('functions/text/handler.ts', join(bundleDir, 'index.mjs'));
      ({ handler } = (await import(file)) as { handler: HttpHandler });
    } else {
      ({ handler } = await import('../../functions/text/handler.ts'));
    }
  });

  afterAll(async () => {
    for (const name of [
      'MODEL_REPOSITORY',
      'MODEL_CACHE_DIR',
      'MODEL_TEXT_CLASSIFY',
      'MODEL_TIER',
      'TEXT_MAX_TEXTS',
    ]) {
      delete process.env[name];
    }
    await rm(dir, { recursive: true, force: true });
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
  });

  it('classifies a JSON batch, explained, with the model named by MODEL_TEXT_CLASSIFY', async () => {
    const texts = trained.test.slice(0, 3).map((e) => e.text);

    const response = await handler(
      httpApiEvent('POST', '/v1/text/classify', {
        body: JSON.stringify({ texts, explain: true }),
        contentType: 'application/json',
        base64: false,
      }),
      lambdaContext('inferlet-text'),
    );

    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body ?? '');
    expect(body.model).toBe('spam-small@1');
    expect(body.results).toHaveLength(3);
    expect(body.results[0].explanation.tokens.length).toBeGreaterThan(0);
  });

  it('reads a base64-encoded text/plain body', async () => {
    const text = 'Ünïcödé subject\nclaim your prize today';

    const response = await handler(
      httpApiEvent('POST', '/v1/text/classify', {
        body: new TextEncoder().encode(text),
        contentType: 'text/plain',
      }),
      lambdaContext('inferlet-text'),
    );

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? '').results).toHaveLength(1);
  });

  it.each([
    ['broken JSON', 400, '{"texts": [', 'application/json'],
    [
      'more texts than TEXT_MAX_TEXTS',
      413,
      JSON.stringify({ texts: ['a', 'b', 'c', 'd', 'e'] }),
      'application/json',
    ],
    ['an unsupported type', 415, 'hi', 'image/png'],
  ] as const)('answers %s with a JSON %i', async (_label, status, body, contentType) => {
    const response = await handler(
      httpApiEvent('POST', '/v1/text/classify', { body, contentType, base64: false }),
      lambdaContext('inferlet-text'),
    );

    expect(response.statusCode).toBe(status);
    expect(typeof JSON.parse(response.body ?? '').error).toBe('string');
  });
});
