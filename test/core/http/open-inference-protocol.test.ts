import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../functions/core/errors.ts';
import { fromFloat16Bits, toFloat16Bits } from '../../../functions/core/float16.ts';
import { parseManifest } from '../../../functions/core/model-store/manifest.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { writeModelVersion } from '../../../functions/core/model-store/write-model.ts';
import { modelRefOf, type TaskDefinition } from '../../../functions/core/tasks/types.ts';
import { imageOcrTask } from '../../../functions/image/task.ts';
import { OCR_VERSION } from '../../../scripts/models/ocr.ts';
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

  it('gives model metadata with its execution provider, with and without a version', async () => {
    await server.runtime.service.warm();
    const plain = await readJson(await get('/v2/models/ppocr-mobile-v2-cls'));
    const versioned = await get(`/v2/models/ppocr-mobile-v2-cls/versions/${OCR_VERSION}`);

    expect(plain).toEqual({
      name: 'ppocr-mobile-v2-cls',
      versions: [OCR_VERSION],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
      outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [-1, 2] }],
      execution_provider: { requested: 'cpu', provider: 'cpu', warmedShapes: 0 },
    });
    expect(await readJson(versioned)).toEqual(plain);
  });

  it('reports a loaded model ready and an unknown one or version as 404', async () => {
    await server.runtime.service.warm();

    const ready = await get(`/v2/models/ppocr-v4-rec/versions/${OCR_VERSION}/ready`);
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
    expect(body).toMatchObject({
      model_name: 'ppocr-mobile-v2-cls',
      model_version: OCR_VERSION,
      id: 'req-42',
    });
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
      await post(`/v2/models/ppocr-mobile-v2-cls/versions/${OCR_VERSION}/infer`, {
        inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: flat }],
      }),
    );
    const b = await readJson(
      await post(`/v2/models/ppocr-mobile-v2-cls/versions/${OCR_VERSION}/infer`, {
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
          expect.objectContaining({ name, version: OCR_VERSION, state: 'READY' }),
        ),
      ),
    );
  });
});

const { onnx } = onnxProto;

/**
 * Silero's fp16 variant with float16 inputs and outputs, as a converter's `keep_io_types=False` would give
 * it: the shipped file computes in float16 behind float32 inputs and outputs, so `Cast` nodes at the edges
 * put the float16 tensors on the wire, where the OIP FP16 path carries them.
 */
function withFloat16Io(model: Uint8Array): Uint8Array {
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph as NonNullable<typeof decoded.graph>;
  const { FLOAT, FLOAT16 } = onnx.TensorProto.DataType;
  const cast = (from: string, to: string, type: number) =>
    onnx.NodeProto.create({
      opType: 'Cast',
      name: `cast_${to}`,
      input: [from],
      output: [to],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type }],
    });
  const retyped = (info: onnxProto.onnx.IValueInfoProto, name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: FLOAT16, shape: info.type?.tensorType?.shape ?? null } },
    });
  const floats = ['input', 'state'];
  graph.input = (graph.input ?? []).map((i) =>
    floats.includes(i.name ?? '') ? retyped(i, `${i.name}_fp16`) : i,
  );
  graph.output = (graph.output ?? []).map((o) => retyped(o, `${o.name}_fp16`));
  graph.node = [
    ...floats.map((n) => cast(`${n}_fp16`, n, FLOAT)),
    ...(graph.node ?? []),
    ...['output', 'stateN'].map((n) => cast(n, `${n}_fp16`, FLOAT16)),
  ];
  return onnx.ModelProto.encode(decoded).finish();
}

/**
 * A task that only loads its model, so the OIP endpoints serve it: the speech pipeline, rightly, will not
 * take a Silero whose inputs are not the float32 `input` and `state` it feeds.
 */
const tensorsOnlyTask: TaskDefinition = {
  name: 'speech/tensors',
  modality: 'speech',
  route: '/v1/speech/tensors',
  defaultModel: 'silero-vad',
  mediaTypes: [],
  async load(store, wanted) {
    const model = await store.load(wanted.name, wanted.version);
    const ref = modelRefOf(model);
    const run = () => Promise.reject(new InvalidInputError('tensor inference only: use /v2/models/…/infer'));
    return { model: ref, loaded: [ref], runner: { run } };
  },
};

describe('Open Inference Protocol v2 with FP16 tensors', () => {
  const MODEL = 'silero-vad-fp16-io';
  const shipped = 'models/silero-vad/1/model_fp16.onnx';
  let root: string;
  let server: TestServer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'inferlet-oip-fp16-'));
    const source = parseManifest(
      JSON.parse(await readFile('models/silero-vad/1/manifest.json', 'utf8')),
      'silero-vad/1',
    );
    // Everything else as the shipped manifest says; tiers and provenance name files this copy lacks.
    const { files: _files, tiers: _tiers, source: _source, ...reference } = source;
    const fp16 = (t: (typeof source.inputs)[number]) =>
      t.datatype === 'FP32' ? { ...t, name: `${t.name}_fp16`, datatype: 'FP16' as const } : t;
    await writeModelVersion(
      join(root, 'models'),
      {
        ...reference,
        name: MODEL,
        inputs: source.inputs.map(fp16),
        outputs: source.outputs.map(fp16),
        variants: { fp16: { file: 'model.onnx' } },
        defaultVariant: 'fp16',
        parameters: { sampleRates: { fp16: [16000] } },
      },
      [{ path: 'model.onnx', content: withFloat16Io(await readFile(shipped)) }],
    );
    const store = createModelStore({ repository: join(root, 'models'), cacheDir: join(root, 'cache') });
    server = await startTestServer({
      tasks: [{ definition: tensorsOnlyTask, model: { name: MODEL } }],
      store,
    });
    await server.runtime.service.warm();
  });

  afterAll(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  const infer = (inputs: unknown[]) =>
    fetch(`${server.url}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs }),
    });
  /** 64 samples of context and one 512-sample window of a 300 Hz tone with a rising envelope, at 16 kHz. */
  const window = Array.from(
    { length: 576 },
    (_, i) => (i / 576) * 0.6 * Math.sin((2 * Math.PI * 300 * i) / 16000),
  );
  const state = Array.from({ length: 256 }, (_, i) => ((i % 17) - 8) / 40);

  it('rounds FP16 inputs to nearest even and returns FP16 outputs as the model computed them', async () => {
    // The model as shipped, fed the halves the server should make of the JSON numbers, computes in
    // float32 at its edges; the wrapped one casts those same halves in and its float32 results out.
    const half = (values: number[]) => values.map((v) => fromFloat16Bits(toFloat16Bits(v)));
    const reference = await ort.InferenceSession.create(shipped);
    const expected = await reference.run({
      input: new ort.Tensor('float32', Float32Array.from(half(window)), [1, 576]),
      state: new ort.Tensor('float32', Float32Array.from(half(state)), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    });

    const response = await infer([
      { name: 'input_fp16', shape: [1, 576], datatype: 'FP16', data: window },
      { name: 'state_fp16', shape: [2, 1, 128], datatype: 'FP16', data: state },
      { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
    ]);

    expect(response.status).toBe(200);
    const body = await readJson(response);
    const output = body.outputs.find((o: { name: string }) => o.name === 'output_fp16');
    const stateN = body.outputs.find((o: { name: string }) => o.name === 'stateN_fp16');
    expect(output).toMatchObject({ datatype: 'FP16', shape: [1, 1] });
    expect(stateN).toMatchObject({ datatype: 'FP16', shape: [2, 1, 128] });
    expect(output.data).toEqual(half(Array.from(expected.output?.data as Float32Array)));
    expect(stateN.data).toEqual(half(Array.from(expected.stateN?.data as Float32Array)));
    expect(output.data[0]).toBeGreaterThan(0);
  });

  it('refuses an FP16 value beyond the float16 range with 400 instead of sending infinity', async () => {
    const response = await infer([
      { name: 'input_fp16', shape: [1, 576], datatype: 'FP16', data: [70000, ...window.slice(1)] },
      { name: 'state_fp16', shape: [2, 1, 128], datatype: 'FP16', data: state },
      { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
    ]);

    expect(response.status).toBe(400);
    expect((await readJson(response)).error).toMatch(/element 0 is out of the range of FP16/);
  });
});
