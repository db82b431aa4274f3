/**
 * Hostile input, issue 10 finding 8: error bodies carried the repository's location (a path or
 * `s3://bucket/`), the S3 SDK's text, onnxruntime's source paths (`/onnxruntime_src/...`) and unknown model
 * names echoed up to 5000 characters; onnxruntime wrote coloured text lines, the MP3 decoder printed
 * `mpg123-decoder: -1 MPG123_ERR` once per bad frame, and a client that hung up was logged as an ERROR
 * with status 500. Now the client gets what it did wrong, the internals go to JSON log lines, and a client
 * that leaves is a 499 logged at info level.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { echoed, RepositoryUnavailableError } from '../../functions/core/errors.ts';
import { captureConsoleOf, describeError } from '../../functions/core/log.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { runtimeErrorText } from '../../functions/core/session.ts';
import { type FaultyProxy, startFaultyProxy } from '../support/faulty-proxy.ts';
import { freePort } from '../support/free-port.ts';
import { readJson, startTestServer, type TestServer } from '../support/http-server.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { encodedFixturePath } from '../support/spoken-audio.ts';

/** A model name as long as the issue's: 5000 characters, valid in a path. */
const LONG_NAME = `m${'x'.repeat(4999)}`;
/** A version name longer than an echo, short enough to be a file name in the embedded S3's folder. */
const LONG_VERSION = `v${'9'.repeat(199)}`;

/** Lines of a stream, without the empty one after the last newline. */
const linesOf = (text: string) => text.split('\n').filter((line) => line.length > 0);

/** Lines of `text` that are not one JSON object each. */
function nonJsonLines(text: string): string[] {
  return linesOf(text).filter((line) => {
    try {
      const value: unknown = JSON.parse(line);
      return typeof value !== 'object' || value === null || Array.isArray(value);
    } catch {
      return true;
    }
  });
}

/** The JSON log lines of `text` (stderr). */
const logLines = (text: string) =>
  linesOf(text).flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

/** The `status` of each outcome record (EMF with a `Requests` metric) on stdout. */
const outcomeStatuses = (stdout: string) =>
  logLines(stdout)
    .filter((record) => 'Requests' in record)
    .map((record) => ({ status: String(record.status), statusClass: String(record.statusClass) }));

/** A MP3 whose frames from byte 3000 to 20 000 are overwritten by a fixed pseudo-random sequence. */
async function damagedMp3(): Promise<Uint8Array> {
  const bytes = new Uint8Array(await readFile(encodedFixturePath('meeting', 'mp3', 16000)));
  let state = 11;
  for (let i = 3000; i < 20_000; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** Waits until `check` holds, up to `ms`. */
async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  const until = performance.now() + ms;
  while (!check() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('error bodies and logs of npm start', () => {
  let work: string;
  let server: LocalServer;
  let base: string;
  let port: number;
  /** Where stdout was once the server was ready: what comes after the start banner is JSON. */
  let stdoutAtReady = 0;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-error-hygiene-'));
    port = await freePort();
    server = await startLocalServer({
      directory: work,
      port,
      s3Port: await freePort(),
      // Everything the server writes, debug lines and EMF records included, must be JSON.
      env: { TASKS: 'image/ocr,speech/vad', LOG_LEVEL: 'debug', POWERTOOLS_METRICS_DISABLED: 'false' },
    });
    base = `http://127.0.0.1:${port}`;
    stdoutAtReady = server.output.stdout.length;
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  // Each case ends on the whole of stderr, and of stdout after the start banner, being JSON lines.
  afterEach(() => {
    expect(nonJsonLines(server.output.stderr)).toEqual([]);
    expect(nonJsonLines(server.output.stdout.slice(stdoutAtReady))).toEqual([]);
  });

  it('echoes an unknown 5000-character model name cut to 64 characters, without the bucket', async () => {
    const routes = [
      ['GET', `/v2/models/${LONG_NAME}`],
      ['GET', `/v2/models/${LONG_NAME}/ready`],
      ['POST', `/v2/models/${LONG_NAME}/infer`],
      ['GET', `/v2/models/ppocr-v4-rec/versions/${LONG_VERSION}`],
      ['GET', `/${LONG_NAME}`],
    ] as const;

    for (const [method, path] of routes) {
      const response = await fetch(`${base}${path}`, {
        method,
        ...(method === 'POST'
          ? { body: '{"inputs":[]}', headers: { 'content-type': 'application/json' } }
          : {}),
      });
      const { error } = await readJson(response);

      expect(response.status, path.slice(0, 40)).toBe(404);
      // 64 characters of the name, then "…": never 65.
      expect(error).toMatch(/(mx{63}|x{64}|\/mx{62}|v9{63})…/);
      expect(error).not.toMatch(/x{65}|9{65}/);
      expect(error.length).toBeLessThan(300);
      expect(error).not.toMatch(/s3:\/\/|models\/|\.data|inferlet-error-hygiene/);
    }
  });

  it('answers an 8000-character Content-Type with its first 64 characters quoted', async () => {
    const response = await fetch(`${base}/v1/image/ocr`, {
      method: 'POST',
      headers: { 'content-type': `image/x-${'a'.repeat(8000)}` },
      body: new Uint8Array(16),
    });
    const { error } = await readJson(response);

    expect(response.status).toBe(415);
    expect(error).toMatch(/^unsupported media type "image\/x-a{56}…"; send /);
    expect(error.length).toBeLessThan(300);
  });

  it("answers a model's runtime failure with its node and reason, not onnxruntime's sources", async () => {
    // The detector's feature pyramid cannot add maps of 33 x 33 pixels: onnxruntime fails inside the graph.
    const body = JSON.stringify({
      inputs: [{ name: 'x', shape: [1, 3, 33, 33], datatype: 'FP32', data: new Array(3 * 33 * 33).fill(0) }],
    });

    const response = await fetch(`${base}/v2/models/ppocr-v4-det/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const { error } = await readJson(response);

    expect(response.status).toBe(400);
    expect(error).toMatch(/^inference failed: .*Add node.*broadcast/);
    expect(error).not.toMatch(/onnxruntime_src|\.cc:|\.h:\d|onnxruntime::/);
    await eventually(() => server.output.stderr.includes('/onnxruntime_src/'));
    // The whole text is in the log, as JSON; onnxruntime's own coloured line is not.
    const refused = logLines(server.output.stderr).find(
      (line) => line.message === 'request refused' && String(line.errorDetail).includes('/onnxruntime_src/'),
    );
    expect(refused).toBeDefined();
    expect(server.output.stderr).not.toContain('[E:onnxruntime');
  });

  it('logs what the MP3 decoder prints about damaged frames as JSON debug lines', async () => {
    const response = await fetch(`${base}/v1/speech/vad`, {
      method: 'POST',
      headers: { 'content-type': 'audio/mpeg' },
      body: await damagedMp3(),
    });
    await response.arrayBuffer();

    await eventually(() => server.output.stderr.includes('MPG123_ERR'));
    const decoderLines = logLines(server.output.stderr).filter((line) => line.source === 'audio decoder');
    expect(decoderLines.length).toBeGreaterThan(0);
    expect(decoderLines[0]).toMatchObject({
      level: 'DEBUG',
      text: expect.stringMatching(/^mpg123-decoder: /),
    });
  });

  it('logs a client that hangs up in the middle of its body at info level and counts it as 499', async () => {
    const before = server.output.stderr.length;
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /v1/image/ocr HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n',
    );
    socket.write(Buffer.alloc(1000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();

    await eventually(() => server.output.stderr.slice(before).includes('request abandoned by the client'));
    const lines = logLines(server.output.stderr.slice(before));
    expect(lines.filter((line) => line.level === 'ERROR')).toEqual([]);
    expect(lines.find((line) => line.message === 'request abandoned by the client')).toMatchObject({
      level: 'INFO',
      status: 499,
      path: '/v1/image/ocr',
    });
    await eventually(() => outcomeStatuses(server.output.stdout).some((o) => o.status === '499'));
    expect(outcomeStatuses(server.output.stdout)).toContainEqual({ status: '499', statusClass: '4xx' });
    expect(outcomeStatuses(server.output.stdout).filter((o) => o.statusClass === '5xx')).toEqual([]);
  });

  it('counts a client that hangs up before its answer as 499, with no error logged', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => ({
      text: `Invoice line ${i} due 2024`,
      fontSize: 28,
    }));
    const png = await renderText({ width: 900, height: 900, lines: stackLines(lines) });
    const count499 = () => outcomeStatuses(server.output.stdout).filter((o) => o.status === '499').length;
    const before = { stderr: server.output.stderr.length, answers: count499() };
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /v1/image/ocr HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: ${png.byteLength}\r\n\r\n`,
    );
    socket.write(png);
    // Gone while the pipeline runs: detection alone takes longer than this.
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();

    await eventually(() => count499() > before.answers);
    expect(count499()).toBe(before.answers + 1);
    expect(logLines(server.output.stderr.slice(before.stderr)).filter((l) => l.level === 'ERROR')).toEqual(
      [],
    );
    expect(outcomeStatuses(server.output.stdout).filter((o) => o.statusClass === '5xx')).toEqual([]);
  });
});

describe('error bodies of a model repository that fails', () => {
  const BUCKET = 'private-models-bucket';
  let s3: S3rverHandle;
  let proxy: FaultyProxy;
  let server: TestServer;
  let cacheDir: string;
  const stderr: string[] = [];

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    proxy = await startFaultyProxy(s3.endpoint);
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-error-hygiene-cache-'));
    const client = new S3Client({
      endpoint: proxy.endpoint,
      region: S3RVER_REGION,
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
      maxAttempts: 1,
    });
    const store = createModelStore({
      repository: `s3://${BUCKET}/secret/prefix/`,
      s3Client: client,
      cacheDir,
    });
    server = await startTestServer({ tasks: [], store });
    vi.stubEnv('LOG_LEVEL', 'info');
    const write = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stderr.push(String(chunk));
      return typeof rest.at(-1) === 'function' ? write(chunk, rest.at(-1) as () => void) : true;
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    await server?.close();
    await proxy?.close();
    await s3?.stop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it.each([
    ['an S3 error status', { kind: 'status', status: 500 } as const],
    ['a reset connection', { kind: 'reset' } as const],
  ])('answers 503 without the bucket or the SDK text when listing fails with %s', async (_label, fault) => {
    proxy.inject(fault, 1, (method) => method === 'GET');
    stderr.length = 0;

    const response = await fetch(`${server.url}/v2/models/some-model`);
    const { error } = await readJson(response);

    expect(response.status).toBe(503);
    expect(error).toBe('model repository unavailable: listing the versions of model "some-model"');
    // The log has them: where it failed and what the SDK said.
    const logged = logLines(stderr.join('')).find((line) => line.message === 'request refused');
    expect(String(logged?.errorDetail)).toContain(`s3://${BUCKET}/secret/prefix/some-model/`);
    expect(logged?.causes).toBeDefined();
  });
});

describe('error texts', () => {
  it('echoes a name whole up to 64 characters, JSON-quoted, and cuts a longer one by code point', () => {
    expect(echoed('ppocr-v4')).toBe('"ppocr-v4"');
    expect(echoed('a"b')).toBe('"a\\"b"');
    expect(echoed('x'.repeat(64))).toBe(`"${'x'.repeat(64)}"`);
    expect(echoed('x'.repeat(65))).toBe(`"${'x'.repeat(64)}…"`);
    // 70 emoji are 140 UTF-16 units: the cut keeps 64 whole ones.
    expect(echoed('😀'.repeat(70))).toBe(`"${'😀'.repeat(64)}…"`);
  });

  it("keeps onnxruntime's node and reason and drops its source paths and C++ functions", () => {
    const broadcast =
      "Non-zero status code returned while running Add node. Name:'p2o.Add.248' Status Message: " +
      '/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void ' +
      'onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. ' +
      'Attempting to broadcast an axis by a dimension other than 1. 3 by 4\n';
    const shape =
      "Non-zero status code returned while running Conv node. Name:'conv_1' Status Message: Invalid input shape: {48,0}";

    expect(runtimeErrorText(new Error(broadcast))).toBe(
      "Non-zero status code returned while running Add node. Name:'p2o.Add.248' Status Message: " +
        'axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 3 by 4',
    );
    expect(runtimeErrorText(new Error(shape))).toBe(shape);
    expect(runtimeErrorText(new Error('x'.repeat(1000)))).toHaveLength(301);
  });

  it('logs the detail and the causes an error keeps from its client', () => {
    const sdk = new Error('We encountered an internal error. Please try again.');
    const error = new RepositoryUnavailableError('model repository unavailable: listing the models', {
      cause: sdk,
      detail: 's3://private-bucket/models/: We encountered an internal error.',
    });

    expect(describeError(error)).toMatchObject({
      errorName: 'RepositoryUnavailableError',
      errorMessage: 'model repository unavailable: listing the models',
      errorDetail: 's3://private-bucket/models/: We encountered an internal error.',
      causes: [{ name: 'Error', message: sdk.message }],
    });
  });

  it("turns a library's prefixed console lines into JSON debug lines and leaves other lines alone", () => {
    const written: string[] = [];
    vi.stubEnv('LOG_LEVEL', 'debug');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      captureConsoleOf('test decoder', ['test-decoder: ']);
      console.error('test-decoder: -1 frame error');
      console.warn('a line of someone else');
    } finally {
      stderr.mockRestore();
      vi.unstubAllEnvs();
    }

    // One log line, the decoder's; the other line went to the console as before, not into the log.
    expect(written.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        level: 'DEBUG',
        source: 'test decoder',
        text: 'test-decoder: -1 frame error',
      }),
    ]);
  });
});
