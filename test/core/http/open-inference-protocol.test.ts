import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { imageOcrTask } from '../../../functions/image/task.ts';
import { readJson, startTestServer, type TestServer } from '../../support/http-server.ts';

describe('Open Inference Protocol v2', () => {
  let server: TestServer;
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-oip-'));
    const store = createModelStore({ repository: 'models', cacheDir });
    server = await startTestServer({
      tasks: [{ definition: imageOcrTask, model: { name: 'ppocr-v4' } }],
      store,
    });
  });

  afterAll(async () => {
    await server?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const get = (path: string) => fetch(`${server.url}${path}`);
  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const zeros = (n: number) => new Array<number>(n).fill(0);

  it('is live at once and ready only once the served models are loaded', async () => {
    const live = await get('/v2/health/live');
    const before = await get('/v2/health/ready');
    await server.runtime.service.warm();
    const after = await get('/v2/health/ready');

    expect(live.status).toBe(200);
    expect(before.status).toBe(503);
    expect(after.status).toBe(200);
    expect(await readJson(after)).toEqual({ ready: true });
  });

  it('describes the server', async () => {
    const body = await readJson(await get('/v2'));

    expect(body.name).toBe('inferlet');
    expect(typeof body.version).toBe('string');
    expect(body.extensions).toBeInstanceOf(Array);
  });

  it('gives model metadata with and without a version', async () => {
    const plain = await readJson(await get('/v2/models/ppocr-mobile-v2-cls'));
    const versioned = await get('/v2/models/ppocr-mobile-v2-cls/versions/1');

    expect(plain).toEqual({
      name: 'ppocr-mobile-v2-cls',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
      outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect(await readJson(versioned)).toEqual(plain);
  });

  it('reports a loaded model ready and an unknown one or version as 404', async () => {
    await server.runtime.service.warm();

    const ready = await get('/v2/models/ppocr-v4-rec/versions/1/ready');
    const unknown = await get('/v2/models/no-such-model/ready');
    const badVersion = await get('/v2/models/ppocr-v4-rec/versions/7');

    expect(ready.status).toBe(200);
    expect(unknown.status).toBe(404);
    expect((await readJson(unknown)).error).toMatch(/no-such-model/);
    expect(badVersion.status).toBe(404);
  });

  it('runs tensor inference with the id echoed, flat data, and a probability pair per item', async () => {
    const response = await post('/v2/models/ppocr-mobile-v2-cls/infer', {
      id: 'req-42',
      inputs: [{ name: 'x', shape: [2, 3, 48, 192], datatype: 'FP32', data: zeros(2 * 3 * 48 * 192) }],
    });

    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body).toMatchObject({ model_name: 'ppocr-mobile-v2-cls', model_version: '1', id: 'req-42' });
    expect(body.outputs).toHaveLength(1);
    expect(body.outputs[0]).toMatchObject({ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [2, 2] });
    expect(body.outputs[0].data[0] + body.outputs[0].data[1]).toBeCloseTo(1, 5);
  });

  it('accepts nested data and the same answer as flat data', async () => {
    const flat = zeros(3 * 48 * 192).map((_, i) => (i % 7) / 7);
    const nested = [
      [0, 1, 2].map((c) =>
        Array.from({ length: 48 }, (_, y) => flat.slice((c * 48 + y) * 192, (c * 48 + y + 1) * 192)),
      ),
    ];

    const a = await readJson(
      await post('/v2/models/ppocr-mobile-v2-cls/versions/1/infer', {
        inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: flat }],
      }),
    );
    const b = await readJson(
      await post('/v2/models/ppocr-mobile-v2-cls/versions/1/infer', {
        inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: nested }],
      }),
    );

    expect(b.outputs[0].data).toEqual(a.outputs[0].data);
  });

  it('returns only the outputs asked for, and refuses unknown ones', async () => {
    const input = { name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: zeros(3 * 48 * 192) };

    const good = await post('/v2/models/ppocr-mobile-v2-cls/infer', {
      inputs: [input],
      outputs: [{ name: 'softmax_0.tmp_0' }],
    });
    const bad = await post('/v2/models/ppocr-mobile-v2-cls/infer', {
      inputs: [input],
      outputs: [{ name: 'logits' }],
    });

    expect((await readJson(good)).outputs.map((o: { name: string }) => o.name)).toEqual(['softmax_0.tmp_0']);
    expect(bad.status).toBe(400);
  });

  it.each([
    ['broken JSON', '{"inputs": ['],
    ['no inputs', { inputs: [] }],
    ['an unknown input name', { inputs: [{ name: 'y', shape: [1], datatype: 'FP32', data: [0] }] }],
    [
      'a wrong datatype',
      { inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'INT64', data: zeros(27648) }] },
    ],
    [
      'a shape that breaks a fixed dim',
      { inputs: [{ name: 'x', shape: [1, 3, 48, 100], datatype: 'FP32', data: zeros(14400) }] },
    ],
    [
      'data that does not fill the shape',
      { inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: [1, 2, 3] }] },
    ],
    [
      'non-numeric data',
      {
        inputs: [
          {
            name: 'x',
            shape: [1, 3, 48, 192],
            datatype: 'FP32',
            data: zeros(27647).concat(['a' as unknown as number]),
          },
        ],
      },
    ],
    [
      'a non-string id',
      { id: 5, inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: zeros(27648) }] },
    ],
  ])('refuses %s with 400', async (_label, body) => {
    const response = await post('/v2/models/ppocr-mobile-v2-cls/infer', body);

    expect(response.status).toBe(400);
    expect(typeof (await readJson(response)).error).toBe('string');
  });

  it('points tensor inference on an ensemble to its task route', async () => {
    const response = await post('/v2/models/ppocr-v4/infer', {
      inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['x'] }],
    });

    expect(response.status).toBe(400);
    expect((await readJson(response)).error).toMatch(/ensemble/);
  });

  it('lists the repository with each model state', async () => {
    await server.runtime.service.warm();

    const response = await post('/v2/repository/index', {});

    expect(response.status).toBe(200);
    const index = await readJson(response);
    expect(index).toEqual(
      expect.arrayContaining(
        ['ppocr-v4', 'ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-mobile-v2-cls'].map((name) =>
          expect.objectContaining({ name, version: '1', state: 'READY' }),
        ),
      ),
    );
  });
});
