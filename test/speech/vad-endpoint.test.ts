import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speechVadTask } from '../../functions/speech/task.ts';
import { readJson, startTestServer, type TestServer } from '../support/http-server.ts';
import { type SileroRepository, sileroRepository } from '../support/silero-model.ts';
import { compose, encodedFixture, SCRIPTS, type SpokenAudio, wavOf } from '../support/spoken-audio.ts';
import { pcmData, wavBytes } from '../support/wav-bytes.ts';

const MAX_BODY = 2 * 1024 * 1024;

describe('POST /v1/speech/vad', () => {
  let repo: SileroRepository;
  let server: TestServer;
  let wav: Uint8Array;
  let truth: { start: number; end: number }[];
  let audio: SpokenAudio;

  beforeAll(async () => {
    repo = await sileroRepository();
    server = await startTestServer({
      tasks: [{ definition: speechVadTask, model: { name: 'silero-vad' } }],
      store: repo.store,
      maxBodyBytes: MAX_BODY,
    });
    // Two sentences, 1 s in, 1.5 s apart, 0.8 s of silence after.
    audio = await compose(SCRIPTS.meeting);
    truth = audio.truth;
    wav = wavOf(audio, { rate: 16000 });
  });

  afterAll(async () => {
    await server?.close();
    await repo?.remove();
  });

  const post = (body: Uint8Array | string, contentType?: string) =>
    fetch(`${server.url}/v1/speech/vad`, {
      method: 'POST',
      body,
      headers: contentType ? { 'content-type': contentType } : {},
    });

  it.each(['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'application/octet-stream'])(
    'finds the two sentences of a raw %s body, with model, duration, rate, ratio and timings',
    async (contentType) => {
      const response = await post(wav, contentType);

      expect(response.status).toBe(200);
      const body = await readJson(response);
      expect(body.model).toBe('silero-vad@1');
      expect(body.sampleRate).toBe(16000);
      expect(body.duration).toBeCloseTo(1 + 1.5 + 0.8 + truth.reduce((s, t) => s + t.end - t.start, 0), 2);
      expect(body.segments).toHaveLength(2);
      body.segments.forEach((s: { start: number; end: number; confidence: number }, i: number) => {
        expect(Math.abs(s.start - (truth[i]?.start as number))).toBeLessThanOrEqual(0.25);
        expect(Math.abs(s.end - (truth[i]?.end as number))).toBeLessThanOrEqual(0.25);
        expect(s.confidence).toBeGreaterThan(0.5);
      });
      const speech = body.segments.reduce(
        (sum: number, s: { start: number; end: number }) => sum + s.end - s.start,
        0,
      );
      expect(body.speechRatio).toBeCloseTo(speech / body.duration, 3);
      expect(Object.keys(body.timings).sort()).toEqual([
        'decode',
        'inference',
        'postprocess',
        'preprocess',
        'total',
      ]);
    },
  );

  it.each([
    ['audio/flac', 'flac'],
    ['audio/mpeg', 'mp3'],
    ['audio/ogg', 'opus'],
  ] as const)('finds the two sentences in a raw %s body', async (contentType, format) => {
    const bytes = await encodedFixture('meeting', format, 16000);

    const response = await post(bytes, contentType);

    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body.sampleRate).toBe(format === 'opus' ? 48000 : 16000);
    expect(body.segments).toHaveLength(2);
  });

  it('takes base64 audio and segmentation options in a JSON body', async () => {
    const plain = await readJson(await post(wav, 'audio/wav'));
    const json = JSON.stringify({ audio: Buffer.from(wav).toString('base64'), speechPadMs: 200 });

    const response = await post(json, 'application/json');

    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body.segments).toHaveLength(2);
    expect(body.segments[0].start).toBeCloseTo(plain.segments[0].start - 0.17, 2);
    expect(body.segments[0].end).toBeCloseTo(plain.segments[0].end + 0.17, 2);
  });

  it('merges the two sentences when the minimum silence is longer than the pause between them', async () => {
    const json = JSON.stringify({ audio: Buffer.from(wav).toString('base64'), minSilenceDurationMs: 2000 });

    const body = await readJson(await post(json, 'application/json'));

    expect(body.segments).toHaveLength(1);
  });

  const good = pcmData(
    Array.from({ length: 1600 }, () => [0]),
    16,
  );
  const whole = wavBytes({ data: good });
  const badRequests: [string, number, () => Uint8Array | string, string][] = [
    ['a truncated file', 422, () => whole.subarray(0, whole.length - 100), 'audio/wav'],
    ['a wrong header', 422, () => Buffer.from('RIFX\x24\x00\x00\x00WAVEfmt '), 'audio/wav'],
    ['garbage', 422, () => new Uint8Array(512).fill(9), 'audio/wav'],
    ['zero-length data', 422, () => wavBytes({ data: new Uint8Array(0) }), 'audio/wav'],
    ['an absurd declared data size', 422, () => wavBytes({ data: good, dataSize: 0xfffffff0 }), 'audio/wav'],
    ['a 96 kHz file', 422, () => wavBytes({ data: good, sampleRate: 96000 }), 'audio/wav'],
    ['a FLAC header and no audio', 422, () => Buffer.from('fLaC\x00\x00\x00\x22\x10\x00'), 'audio/flac'],
    ['AIFF bytes', 415, () => Buffer.from('FORM\x00\x00\x10\x00AIFFCOMM'), 'audio/wav'],
    ['a wrong content type', 415, () => whole, 'image/png'],
    ['an empty body', 400, () => new Uint8Array(0), 'audio/wav'],
    ['JSON without audio', 400, () => '{"threshold":0.5}', 'application/json'],
    ['JSON with bad base64', 400, () => '{"audio":"%%%"}', 'application/json'],
    ['an unknown option', 400, () => JSON.stringify({ audio: 'UklGRg==', speed: 2 }), 'application/json'],
    ['a threshold of 2', 400, () => JSON.stringify({ audio: 'UklGRg==', threshold: 2 }), 'application/json'],
  ];

  it.each(badRequests)(
    'answers %s with a JSON error and status %i',
    async (_label, status, body, contentType) => {
      const response = await post(body(), contentType);

      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/application\/json/);
      const json = await readJson(response);
      expect(typeof json.error).toBe('string');
      expect(json.error.length).toBeGreaterThan(0);
    },
  );

  it('runs an upload whose object store recorded a generic content type, by its file name', async () => {
    const result = await server.runtime.service.infer(
      'speech/vad',
      { mediaType: 'binary/octet-stream', bytes: wav, filename: 'incoming/speech/meeting.wav' },
      'upload',
    );

    expect(result.model).toBe('silero-vad@1');
    expect(result.segments).toHaveLength(2);
  });

  it('serves the model through the OIP v2 infer endpoint', async () => {
    const response = await fetch(`${server.url}/v2/models/silero-vad/versions/1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'input', shape: [1, 576], datatype: 'FP32', data: new Array(576).fill(0) },
          { name: 'state', shape: [2, 1, 128], datatype: 'FP32', data: new Array(256).fill(0) },
          { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
        ],
      }),
    });

    expect(response.status).toBe(200);
    const body = await readJson(response);
    const output = body.outputs.find((o: { name: string }) => o.name === 'output');
    expect(output.shape).toEqual([1, 1]);
    expect(output.data[0]).toBeLessThan(0.1);
    expect(body.outputs.find((o: { name: string }) => o.name === 'stateN').shape).toEqual([2, 1, 128]);
  });

  // Last: a server may close the socket of a body it refuses unread, and the client's pool reuses sockets.
  it('answers a body over the limit with a JSON error and status 413', async () => {
    const response = await post(new Uint8Array(MAX_BODY + 1), 'audio/wav');

    expect(response.status).toBe(413);
    expect((await readJson(response)).error).toMatch(/limit/);
  });
});
