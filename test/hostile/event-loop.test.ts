/**
 * Hostile input, issue 10 finding 5 (and the suite's promise): no request, hostile or merely big, keeps
 * `npm start`'s server from answering its health probe for more than 250 ms. Before, an NDJSON body of
 * 10 000 lines blocked its event loop for 2.3 s, 64 texts with `"explain": 1000` for 2.6 s, a 40-megapixel
 * page ~370 ms (onnxruntime runs on the calling thread) and 8 of them at once 1.6 s. Finding 3's OIP
 * request is here once; test/hostile/oip-bounds.test.ts probes the rest of OIP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOffThreadSession, openSessionPool } from '../../functions/core/off-thread-session.ts';
import { BEST_CLASS, BEST_PROBABILITY } from '../../functions/image/ctc-decode.ts';
import { freePort } from '../support/free-port.ts';
import { largePage } from '../support/large-page.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { probeDuring } from '../support/loop-probe.ts';
import { loadOcrModels } from '../support/ocr-models.ts';
import { renderText, stackLines } from '../support/render-text.ts';

/** The longest a health probe may wait behind any one request. */
const PROBE_LIMIT_MS = 250;

const WORDS = [
  'free',
  'offer',
  'click',
  'meeting',
  'tomorrow',
  'report',
  'credit',
  'winner',
  '£1000',
  'now!!',
];

/** A 16-bit mono PCM WAV file of a tone with bursts of noise, `seconds` long at `sampleRate`. */
function longWav(seconds: number, sampleRate: number): Uint8Array {
  const samples = Math.round(seconds * sampleRate);
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, bytes.length - 8, true);
  ascii(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  let seed = 1;
  for (let i = 0; i < samples; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const burst = Math.floor(i / sampleRate) % 3 === 0 ? (seed / 2 ** 31 - 0.5) * 8000 : 0;
    view.setInt16(44 + 2 * i, Math.round(2000 * Math.sin(i / 9) + burst), true);
  }
  return bytes;
}

/** An OIP infer body of one FP32 input of zeros, written the cheapest way a client can ("0,0,0"). */
function zerosBody(name: string, shape: readonly number[]): string {
  const count = shape.reduce((a, b) => a * b, 1);
  return `{"inputs":[{"name":"${name}","shape":${JSON.stringify(shape)},"datatype":"FP32","data":[0${',0'.repeat(count - 1)}]}]}`;
}

/** A text of `chars` characters of words, different for each seed. */
function wordsText(chars: number, seed: number): string {
  let text = '';
  for (let i = 0; text.length < chars; i++)
    text += `${WORDS[(i * 7 + seed * 3 + (i >> 3)) % WORDS.length]}${i} `;
  return text.slice(0, chars);
}

describe('health probes while the server works on big and hostile requests', () => {
  let work: string;
  let server: LocalServer;
  let base: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-loop-'));
    const port = await freePort();
    server = await startLocalServer({
      directory: work,
      port,
      s3Port: await freePort(),
      env: { TASKS: 'text/classify,image/ocr,speech/vad' },
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const post = (path: string, contentType: string, body: string | Uint8Array) => () =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body }).then(
      async (response) => ({ status: response.status, body: await response.text() }),
    );

  it('answers probes within 250 ms while refusing an NDJSON body of 10 000 lines', async () => {
    const lines = Array.from({ length: 10_000 }, (_, i) =>
      JSON.stringify({ text: wordsText(200, i), id: i }),
    );
    const body = `${lines.join('\n')}\n`;

    const { result, probe } = await probeDuring(
      base,
      post('/v1/text/classify', 'application/x-ndjson', body),
    );

    expect(result.status, result.body.slice(0, 200)).toBe(413);
    expect(probe.failures).toEqual([]);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while refusing 64 texts that ask for 1000 explained tokens each', async () => {
    const texts = Array.from({ length: 64 }, (_, i) => wordsText(90_000, i));
    const body = JSON.stringify({ texts, explain: 1000 });

    const { result, probe } = await probeDuring(base, post('/v1/text/classify', 'application/json', body));

    expect(result.status, result.body.slice(0, 200)).toBe(413);
    expect(JSON.parse(result.body).error).toMatch(/"explain": 156/);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while explaining 64 texts of 90 000 characters', async () => {
    const texts = Array.from({ length: 64 }, (_, i) => wordsText(90_000, i));
    const body = JSON.stringify({ texts, explain: 156 });

    const { result, probe } = await probeDuring(base, post('/v1/text/classify', 'application/json', body));

    expect(result.status, result.body.slice(0, 200)).toBe(200);
    expect(JSON.parse(result.body).results).toHaveLength(64);
    expect(probe.failures).toEqual([]);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while classifying 64 texts of 90 000 characters', async () => {
    const texts = Array.from({ length: 64 }, (_, i) => wordsText(90_000, i + 100));
    const body = JSON.stringify({ texts });

    const { result, probe } = await probeDuring(base, post('/v1/text/classify', 'application/json', body));

    expect(result.status, result.body.slice(0, 200)).toBe(200);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while reading a page of text', async () => {
    const png = await renderText({
      width: 1600,
      height: 1200,
      lines: stackLines(
        Array.from({ length: 24 }, (_, i) => ({ text: `Line ${i} of a long page with words`, fontSize: 28 })),
      ),
    });

    const { result, probe } = await probeDuring(base, post('/v1/image/ocr', 'image/png', png));

    expect(result.status, result.body.slice(0, 200)).toBe(200);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while reading 8 pages of 39.6 megapixels at once', async () => {
    const png = await largePage();

    const { result, probe } = await probeDuring(base, () =>
      Promise.all(Array.from({ length: 8 }, post('/v1/image/ocr', 'image/png', png))),
    );

    expect(result.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(JSON.parse(result[0]?.body ?? '{}').text).toMatch(/large page/);
    expect(probe.failures).toEqual([]);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it('answers probes within 250 ms while finding speech in a minute of 44.1 kHz audio', async () => {
    const wav = longWav(60, 44_100);

    const { result, probe } = await probeDuring(base, post('/v1/speech/vad', 'audio/wav', wav));

    expect(result.status, result.body.slice(0, 200)).toBe(200);
    expect(JSON.parse(result.body).duration).toBeCloseTo(60, 1);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });

  it("answers probes within 250 ms while refusing finding 3's OIP input [1,3,48,21000]", async () => {
    const body = zerosBody('x', [1, 3, 48, 21_000]);

    const { result, probe } = await probeDuring(
      base,
      post('/v2/models/ppocr-v4-rec/infer', 'application/json', body),
    );

    expect(result.status, result.body.slice(0, 200)).toBe(413);
    expect(probe.maxMs).toBeLessThan(PROBE_LIMIT_MS);
  });
});

describe('a model session on a worker thread', () => {
  it('answers as the session on this thread does, and a failed run leaves it usable', async () => {
    const { classifier } = await loadOcrModels();
    const session = classifier.session as ort.InferenceSession;
    const file = classifier.files.get(classifier.manifest.variants[classifier.variant]?.file ?? '') ?? '';
    const offThread = await openOffThreadSession(file);
    const input = () =>
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: 2 * 3 * 48 * 192 }, (_, i) => Math.sin(i / 97)),
        [2, 3, 48, 192],
      );
    try {
      const here = await session.run({ [session.inputNames[0] as string]: input() });

      const wrongShape = offThread.run({
        [offThread.inputNames[0] as string]: new ort.Tensor('float32', new Float32Array(7), [7]),
      });
      await expect(wrongShape).rejects.toThrow(/./);
      const there = await offThread.run({ [offThread.inputNames[0] as string]: input() });

      const name = session.outputNames[0] as string;
      expect(offThread.outputNames).toEqual(session.outputNames);
      expect(there[name]?.dims).toEqual(here[name]?.dims);
      expect(Array.from(there[name]?.data as Float32Array)).toEqual(
        Array.from(here[name]?.data as Float32Array),
      );
    } finally {
      await offThread.close();
    }
  });
});

describe('a pool of model sessions on worker threads', () => {
  it('answers runs made at once, and a run alone, as the session on this thread does; a failed run fails alone', async () => {
    const { classifier } = await loadOcrModels();
    const session = classifier.session as ort.InferenceSession;
    const file = classifier.files.get(classifier.manifest.variants[classifier.variant]?.file ?? '') ?? '';
    const pool = await openSessionPool(file, 2, { intraOpThreads: 2, executionProvider: 'cpu' });
    const input = (phase: number) =>
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.sin(i / 97 + phase)),
        [1, 3, 48, 192],
      );
    const name = session.outputNames[0] as string;
    const feed = (tensor: ort.Tensor) => ({ [session.inputNames[0] as string]: tensor });
    try {
      const here = await Promise.all([0, 1, 2, 3].map((phase) => session.run(feed(input(phase)))));
      await pool.ready;
      const wrongShape = expect(
        pool.run(feed(new ort.Tensor('float32', new Float32Array(7), [7]))),
      ).rejects.toThrow(/./);
      const there = await Promise.all([0, 1, 2, 3].map((phase) => pool.run(feed(input(phase)))));
      await wrongShape;
      // A run alone goes to the copy with both threads.
      const alone = await pool.runAlone?.(feed(input(0)));
      there.push(alone ?? {});
      here.push(here[0] as (typeof here)[number]);

      expect(pool.parallelism).toBe(2);
      expect(pool.outputNames).toEqual(session.outputNames);
      for (const [i, out] of there.entries()) {
        const expected = here[i]?.[name]?.data as Float32Array;
        const got = out[name]?.data as Float32Array;
        expect(out[name]?.dims).toEqual(here[i]?.[name]?.dims);
        // One intra-op thread against this session's several: the same sums in another order.
        expect(Math.max(...got.map((v, k) => Math.abs(v - (expected[k] as number))))).toBeLessThan(1e-5);
      }
    } finally {
      await pool.close();
    }
  });

  it('answers only the outputs a run fetches: the recogniser best path, as the session on this thread does', async () => {
    const { recognizer } = await loadOcrModels();
    const session = recognizer.session as ort.InferenceSession;
    const file = recognizer.files.get(recognizer.manifest.variants[recognizer.variant]?.file ?? '') ?? '';
    const pool = await openSessionPool(file, 2, { intraOpThreads: 2, executionProvider: 'cpu' });
    const x = () =>
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: 2 * 3 * 48 * 320 }, (_, i) => Math.sin(i / 31)),
        [2, 3, 48, 320],
      );
    const fetches = [BEST_CLASS, BEST_PROBABILITY];
    try {
      const here = await session.run({ x: x() }, fetches);
      await pool.ready;

      const [there, alone] = await Promise.all([
        pool.run({ x: x() }, fetches),
        pool.runAlone?.({ x: x() }, fetches),
      ]);

      for (const out of [there, alone ?? {}]) {
        expect(Object.keys(out).sort()).toEqual([...fetches].sort());
        expect(out[BEST_CLASS]?.dims).toEqual([2, 40]);
        expect(Array.from(out[BEST_CLASS]?.data as BigInt64Array)).toEqual(
          Array.from(here[BEST_CLASS]?.data as BigInt64Array),
        );
      }
    } finally {
      await pool.close();
    }
  });

  it('refuses a pool of no copies', async () => {
    await expect(openSessionPool('model.onnx', 0)).rejects.toThrow(RangeError);
  });
});
