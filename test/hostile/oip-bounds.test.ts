/**
 * Hostile input, issue 10 finding 3: OIP tensor inference answered a 5.8 MiB request for the recogniser
 * ([1,3,48,21000] of zeros) with 200 and a 393 MiB JSON body after 19.4 s, its event loop blocked for 18 s.
 * Now every call is bounded (OIP_MAX_ELEMENTS for inputs and outputs, the manifest's maxBatchSize, and
 * OIP_MAX_RESPONSE_BYTES for the answer) and refused with a small 413, before the run where the shapes
 * tell, and health probes keep answering within 250 ms meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PayloadTooLargeError } from '../../functions/core/errors.ts';
import { fromOrtTensor, inferResponseJson } from '../../functions/core/http/oip-tensors.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { probeDuring } from '../support/loop-probe.ts';

/** The longest a health probe may wait behind one request. */
const PROBE_LIMIT_MS = 250;
/** The defaults of OIP_MAX_ELEMENTS and OIP_MAX_RESPONSE_BYTES. */
const MAX_ELEMENTS = 1024 * 1024;
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/** An OIP infer body of one FP32 input of zeros, written the cheapest way a client can ("0,0,0"). */
function zerosBody(name: string, shape: readonly number[]): string {
  const count = shape.reduce((a, b) => a * b, 1);
  const data = count === 0 ? '' : `0${',0'.repeat(count - 1)}`;
  return `{"inputs":[{"name":"${name}","shape":${JSON.stringify(shape)},"datatype":"FP32","data":[${data}]}]}`;
}

describe('OIP tensor inference bounds (npm start)', () => {
  let work: string;
  let server: LocalServer;
  let base: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-oip-bounds-'));
    const port = await freePort();
    server = await startLocalServer({
      directory: work,
      port,
      s3Port: await freePort(),
      env: { TASKS: 'image/ocr,text/classify' },
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** POSTs `body` to a model's infer route while probing health; the answer's status, size and text. */
  const inferWithProbes = async (model: string, body: string) => {
    const started = performance.now();
    const { result, probe } = await probeDuring(base, async () => {
      const response = await fetch(`${base}/v2/models/${model}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      return {
        status: response.status,
        bytes: bytes.byteLength,
        ms: performance.now() - started,
        bytesOf: bytes,
      };
    });
    const text = result.bytes < 4096 ? new TextDecoder().decode(result.bytesOf) : '';
    return { status: result.status, bytes: result.bytes, ms: result.ms, text, probe };
  };

  it("refuses the issue's recogniser input [1,3,48,21000] with a small 413 before the run", async () => {
    const body = zerosBody('x', [1, 3, 48, 21000]);
    expect(body.length).toBeGreaterThan(5.7 * 1024 * 1024);

    const answer = await inferWithProbes('ppocr-v4-rec', body);

    expect(answer.status, answer.text).toBe(413);
    expect(answer.bytes).toBeLessThan(300);
    expect(JSON.parse(answer.text).error).toBe(
      `the inputs would have 3024000 elements, more than the limit of ${MAX_ELEMENTS}`,
    );
    // Refused from the declared shape: no run of 2 s, no answer of hundreds of MiB.
    expect(answer.ms).toBeLessThan(2000);
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('refuses a recogniser output over the element limit after the run, before serialising it', async () => {
    // 184 320 input elements pass; the outputs [1, 160, 6625] (1 060 000) and the best path, [1, 160] twice,
    // are known only once the model ran.
    const answer = await inferWithProbes('ppocr-v4-rec', zerosBody('x', [1, 3, 48, 1280]));

    expect(answer.status, answer.text).toBe(413);
    expect(JSON.parse(answer.text).error).toBe(
      `the outputs would have 1060320 elements, more than the limit of ${MAX_ELEMENTS}`,
    );
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('refuses an answer over the byte limit while serialising it, within the element limit', async () => {
    // [1, 100, 6625]: 662 500 elements, about 13 MB of JSON floats.
    const answer = await inferWithProbes('ppocr-v4-rec', zerosBody('x', [1, 3, 48, 800]));

    expect(answer.status, answer.text).toBe(413);
    expect(answer.text).toContain(`larger than the limit of ${MAX_RESPONSE_BYTES} bytes`);
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers a large output within the limits whole, with probes answered while it is serialised', async () => {
    // The recogniser's [1, 32, 6625] probabilities: 212 000 floats, about 4 MB of JSON.
    const answer = await inferWithProbes('ppocr-v4-rec', zerosBody('x', [1, 3, 48, 256]));

    expect(answer.status).toBe(200);
    expect(answer.bytes).toBeGreaterThan(1024 * 1024);
    expect(answer.bytes).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('keeps probes under 250 ms while the detector runs on a million input elements', async () => {
    // 995 328 elements, within the limit: the run itself took the event loop for about a second.
    const answer = await inferWithProbes('ppocr-v4-det', zerosBody('x', [1, 3, 576, 576]));

    expect(answer.status, answer.text).toBe(200);
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.probes).toBeGreaterThan(2);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('keeps probes under 250 ms while the recogniser runs into the output limit', async () => {
    // [1, 3, 48, 2400]: its [1, 300, 6625] output is refused after a run that held the loop ~500 ms.
    const answer = await inferWithProbes('ppocr-v4-rec', zerosBody('x', [1, 3, 48, 2400]));

    expect(answer.status, answer.text).toBe(413);
    expect(answer.probe.failures).toEqual([]);
    expect(answer.probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it("refuses a batch over the manifest's maxBatchSize with 413", async () => {
    // The recogniser's manifest allows batches of 32 (the GPU tier's largest warm-up batch).
    const answer = await inferWithProbes('ppocr-v4-rec', zerosBody('x', [33, 3, 48, 8]));

    expect(answer.status, answer.text).toBe(413);
    expect(JSON.parse(answer.text).error).toBe(
      `input "x": batch of 33 is larger than the model's maxBatchSize 32`,
    );
  });

  it('refuses outputs the graph sizes from an input (batch in, batch out) before the run', async () => {
    // offsets [400 000] makes probabilities and logits [400 000, 2] each: 1.6 M elements. The offsets point
    // past the one id, which onnxruntime would refuse with 400: a 413 shows nothing ran.
    const offsets = Array.from({ length: 400_000 }, (_, i) => i);
    const body = JSON.stringify({
      inputs: [
        { name: 'ids', shape: [1], datatype: 'INT64', data: [1] },
        { name: 'offsets', shape: [offsets.length], datatype: 'INT64', data: offsets },
      ],
    });

    const answer = await inferWithProbes('spam-fasttext', body);

    expect(answer.status, answer.text).toBe(413);
    expect(JSON.parse(answer.text).error).toBe(
      `the outputs would have 1600000 elements, more than the limit of ${MAX_ELEMENTS}`,
    );
  });
});

describe('inferResponseJson', () => {
  const outputs = [
    { name: 'f32', tensor: new ort.Tensor('float32', Float32Array.from([0.1, -2.5, 3e-8]), [3]) },
    { name: 'f16', tensor: new ort.Tensor('float16', Uint16Array.from([0x3c00, 0xc000]), [2, 1]) },
    { name: 'i64', tensor: new ort.Tensor('int64', BigInt64Array.from([-3n, 2n ** 40n]), [2]) },
    { name: 'b', tensor: new ort.Tensor('bool', Uint8Array.from([1, 0]), [2]) },
    { name: 's', tensor: new ort.Tensor('string', ['é"', ''], [2]) },
    { name: 'empty', tensor: new ort.Tensor('float32', new Float32Array(0), [0, 4]) },
  ];

  it('writes what JSON.stringify writes of the same response', async () => {
    const head = { model_name: 'm', model_version: '1', id: 'req-1' };

    const json = await inferResponseJson(head, outputs, MAX_RESPONSE_BYTES);

    const expected = JSON.stringify({
      ...head,
      outputs: outputs.map((o) => fromOrtTensor(o.name, o.tensor)),
    });
    expect(json).toBe(expected);
    expect(JSON.parse(json).outputs[1].data).toEqual([1, -2]);
  });

  it('writes the same text across chunks of a large output', async () => {
    const values = Float32Array.from({ length: 200_000 }, (_, i) => Math.sin(i));
    const tensor = new ort.Tensor('float32', values, [2, 100_000]);

    const json = await inferResponseJson(
      { model_name: 'm', model_version: '1' },
      [{ name: 'y', tensor }],
      64 * 1024 * 1024,
    );

    expect(json).toBe(
      JSON.stringify({ model_name: 'm', model_version: '1', outputs: [fromOrtTensor('y', tensor)] }),
    );
  });

  it('refuses with 413 once the text passes the byte limit, counting UTF-8 bytes', async () => {
    const tensor = new ort.Tensor('string', ['é'.repeat(100)], [1]);
    const text = [{ name: 's', tensor }];
    const head = { model_name: 'm', model_version: '1' };
    const length = JSON.stringify({ ...head, outputs: [fromOrtTensor('s', tensor)] }).length;

    // 100 "é" are 100 UTF-16 units but 200 bytes: a limit of the text's length is 100 bytes short.
    await expect(inferResponseJson(head, text, length)).rejects.toThrow(PayloadTooLargeError);
    await expect(inferResponseJson(head, text, length + 100)).resolves.toHaveLength(length);
  });
});
