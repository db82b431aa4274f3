import { mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  ErrorBody,
  OcrResult,
  OipInferResponse,
  OipModelMetadata,
  StatsResult,
  TextClassifyJsonRequest,
  TextClassifyResult,
  UploadsResult,
  VadJsonRequest,
  VadResult,
} from '../../../functions/core/http/api-schemas.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { createRuntime } from '../../../functions/core/runtime.ts';
import { DEFAULT_TASKS } from '../../../functions/tasks.ts';
import { PAGE_FILES } from '../../../functions/web/build-page.ts';
import { mountPage } from '../../../functions/web/page-routes.ts';

// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field.
type Json = any;

const RESULT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  '/v1/image/ocr': OcrResult,
  '/v1/text/classify': TextClassifyResult,
  '/v1/speech/vad': VadResult,
};

describe('GET /openapi.json', () => {
  let directory: string;
  let url: string;
  let close: () => Promise<void>;
  let routes: { method: string; path: string }[];
  let document: Json;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'inferlet-openapi-'));
    // Not built yet: mounting builds it, as `npm start` does when dist/web is missing.
    const pageDir = join(directory, 'web');
    const store = createModelStore({ repository: 'models', cacheDir: join(directory, 'cache') });
    const tasks = DEFAULT_TASKS.map((definition) => ({
      definition,
      model: { name: definition.defaultModel },
    }));
    const { app, service, stats } = createRuntime({ tasks, store });
    // As `npm start` mounts it; without an embedded S3 /v1/uploads answers 404.
    await mountPage(app, { service, stats, pageDir });
    routes = app.routes.filter((r) => r.method !== 'ALL').map(({ method, path }) => ({ method, path }));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
    document = await (await fetch(`${url}/openapi.json`)).json();
  });

  afterAll(async () => {
    await close?.();
    await rm(directory, { recursive: true, force: true });
  });

  it('is served beside the page, which the server built at start when it was missing', async () => {
    for (const file of PAGE_FILES) await expect(stat(join(directory, 'web', file))).resolves.toBeTruthy();
    const page = await fetch(`${url}/`);

    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    await expect(page.text()).resolves.toContain('<script type="module" src="/assets/page.js"></script>');
  });

  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const validator = new Validator();

    const result = await validator.validate(structuredClone(document));

    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
    expect(JSON.stringify(validator.resolveRefs())).not.toContain('"$ref"');
  });

  it('names every route the server answers, with its method, and no route it does not', () => {
    const served = routes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort();
    const described = Object.entries(document.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, operations]) => Object.keys(operations).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();

    expect(described).toEqual([...new Set(served)]);
    expect(described).toEqual(
      expect.arrayContaining([
        'POST /v1/image/ocr',
        'POST /v1/text/classify',
        'POST /v1/speech/vad',
        'POST /v2/models/{name}/infer',
        'POST /v2/models/{name}/versions/{version}/infer',
        'GET /v1/stats',
        'GET /docs',
      ]),
    );
  });

  it('describes each task route with its binary media types, JSON, the error shape and statuses', () => {
    for (const definition of DEFAULT_TASKS) {
      const operation = document.paths[definition.route].post;
      const content = Object.keys(operation.requestBody.content);
      expect(content).toEqual([...definition.mediaTypes, 'application/json']);
      expect(Object.keys(operation.responses)).toEqual(['200', '400', '413', '415', '422', '500', '503']);
    }
    expect(document.paths['/v1/image/ocr'].post.requestBody.content['image/png'].schema).toEqual({
      type: 'string',
      format: 'binary',
      contentMediaType: 'image/png',
    });
    expect(document.components.responses.Error415.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(document.components.schemas.Error).toEqual({
      type: 'object',
      properties: { error: { type: 'string' } },
      required: ['error'],
      additionalProperties: false,
    });
  });

  it("answers each task's JSON request example with 200 and an answer of the documented shape", async () => {
    for (const [route, schema] of Object.entries(RESULT_SCHEMAS)) {
      const example = document.paths[route].post.requestBody.content['application/json'].example;

      const response = await fetch(`${url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(example),
      });

      expect(response.status, route).toBe(200);
      const parsed = schema.safeParse(await response.json());
      expect(parsed.error?.issues ?? [], route).toEqual([]);
      // The documented answer example has the documented shape too.
      expect(
        schema.safeParse(document.paths[route].post.responses['200'].content['application/json'].example)
          .success,
      ).toBe(true);
    }
  });

  it('documents the request schemas that the tasks enforce: what they refuse, the endpoint refuses with 400', async () => {
    const refused = [
      { route: '/v1/text/classify', body: { text: 'a', texts: ['b'] }, schema: TextClassifyJsonRequest },
      { route: '/v1/text/classify', body: { texts: [] }, schema: TextClassifyJsonRequest },
      { route: '/v1/text/classify', body: { text: 'a', explain: 1001 }, schema: TextClassifyJsonRequest },
      { route: '/v1/speech/vad', body: { audio: 'AAAA', threshold: 1.5 }, schema: VadJsonRequest },
      { route: '/v1/speech/vad', body: { audio: 'AAAA', loud: true }, schema: VadJsonRequest },
    ];
    for (const { route, body, schema } of refused) {
      const response = await fetch(`${url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

      expect(schema.safeParse(body).success, JSON.stringify(body)).toBe(false);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(ErrorBody.safeParse(await response.json()).success).toBe(true);
    }
  });

  it('answers the page routes and OIP metadata in their documented shapes', async () => {
    const stats = await fetch(`${url}/v1/stats`);
    const uploads = await fetch(`${url}/v1/uploads`);
    const metadata = await fetch(`${url}/v2/models/silero-vad`);
    const infer = await fetch(`${url}/v2/models/silero-vad/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        document.paths['/v2/models/{name}/infer'].post.requestBody.content['application/json'].example,
      ),
    });

    expect(StatsResult.safeParse(await stats.json()).success).toBe(true);
    expect(uploads.status).toBe(404);
    expect(ErrorBody.safeParse(await uploads.json()).success).toBe(true);
    expect(UploadsResult.safeParse({ bucket: 'uploads', uploads: [] }).success).toBe(true);
    expect(OipModelMetadata.safeParse(await metadata.json()).success).toBe(true);
    expect(infer.status).toBe(200);
    expect(OipInferResponse.safeParse(await infer.json()).error?.issues ?? []).toEqual([]);
  });
});
