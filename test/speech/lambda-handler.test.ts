import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpHandler } from '../../functions/core/adapters/lambda-http.ts';
import { bundleFunction } from '../../scripts/bundle.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { type SileroRepository, sileroRepository } from '../support/silero-model.ts';
import { compose, SCRIPTS, wavOf } from '../support/spoken-audio.ts';

describe.each([
  ['the TypeScript source', 'source'],
  ['the esbuild bundle', 'bundle'],
] as const)('the speech Lambda HTTP handler, from %s', (_label, form) => {
  let handler: HttpHandler;
  let repo: SileroRepository;
  let bundleDir: string | undefined;
  let wav: Uint8Array;

  beforeAll(async () => {
    repo = await sileroRepository();
    process.env.MODEL_REPOSITORY = repo.repository;
    process.env.MODEL_CACHE_DIR = repo.cacheDir;
    if (form === 'bundle') {
      // Inside the checkout, so the external onnxruntime-node resolves as the layer would provide it.
      await mkdir('dist', { recursive: true });
      bundleDir = await mkdtemp(resolve('dist/test-bundle-'));
      const file = await bundleFunction('functions/speech/handler.ts', join(bundleDir, 'index.mjs'));
      ({ handler } = (await import(file)) as { handler: HttpHandler });
    } else {
      ({ handler } = await import('../../functions/speech/handler.ts'));
    }
    // One sentence between 0.8 s silences.
    wav = wavOf(await compose(SCRIPTS['call-back']), { rate: 8000 });
  });

  afterAll(async () => {
    delete process.env.MODEL_REPOSITORY;
    delete process.env.MODEL_CACHE_DIR;
    await repo?.remove();
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
  });

  it('answers an HTTP API event with a base64-encoded WAV body', async () => {
    const response = await handler(
      httpApiEvent('POST', '/v1/speech/vad', { body: wav, contentType: 'audio/wav' }),
      lambdaContext('inferlet-speech'),
    );

    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body ?? '');
    expect(body.model).toBe('silero-vad@1');
    expect(body.sampleRate).toBe(8000);
    expect(body.segments).toHaveLength(1);
    expect(body.segments[0].start).toBeGreaterThan(0.5);
    expect(body.segments[0].start).toBeLessThan(1.1);
  });

  it('reads a JSON body that is not base64-encoded', async () => {
    const json = JSON.stringify({ audio: Buffer.from(wav).toString('base64') });

    const response = await handler(
      httpApiEvent('POST', '/v1/speech/vad', { body: json, contentType: 'application/json', base64: false }),
      lambdaContext('inferlet-speech'),
    );

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? '').segments).toHaveLength(1);
  });

  it.each([
    ['garbage bytes', 422, () => new Uint8Array(512).fill(7), 'audio/wav'],
    ['an unsupported type', 415, () => wav, 'video/mp4'],
  ] as const)('answers %s with a JSON %i', async (_label, status, body, contentType) => {
    const response = await handler(
      httpApiEvent('POST', '/v1/speech/vad', { body: body(), contentType }),
      lambdaContext('inferlet-speech'),
    );

    expect(response.statusCode).toBe(status);
    expect(typeof JSON.parse(response.body ?? '').error).toBe('string');
  });
});
