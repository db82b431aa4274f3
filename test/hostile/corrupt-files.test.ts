import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLambdaHttpHandler } from '../../functions/core/adapters/lambda-http.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { imageOcrTask } from '../../functions/image/task.ts';
import { speechVadTask } from '../../functions/speech/task.ts';
import { textClassifyTask } from '../../functions/text/task.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { readJson, startTestServer, type TestServer } from '../support/http-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';
import { encodedFixture } from '../support/spoken-audio.ts';

/**
 * Issue 10, finding 9: files whose data cannot back what their headers declare, and bodies in a coding the
 * server does not read, answered as client errors instead of "decoded" into empty pages or noise.
 */

/** Rewrites the height and width of a JPEG's first start-of-frame marker (SOF0-SOF15 but DHT, JPG, DAC). */
function withFrameSize(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const bytes = jpeg.slice();
  const view = new DataView(bytes.buffer);
  for (let at = 2; at + 9 < bytes.length; at += 2 + view.getUint16(at + 2)) {
    const marker = bytes[at + 1] as number;
    if (bytes[at] === 0xff && marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      view.setUint16(at + 5, height);
      view.setUint16(at + 7, width);
      return bytes;
    }
  }
  throw new Error('no start-of-frame marker');
}

/** Bytes from a fixed linear congruential sequence: arbitrary, yet the same on every run. */
function garbage(length: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** An ID3v2.4 tag of `size` zero bytes after its header, the size written syncsafe (7 bits a byte). */
function id3Tag(size: number): Uint8Array {
  const syncsafe = [21, 14, 7, 0].map((shift) => (size >> shift) & 0x7f);
  return new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0, ...syncsafe, ...new Uint8Array(size)]);
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** The length of an Ogg stream's first page: 27 bytes of header, the segment table, then the segments. */
function firstOggPageLength(ogg: Uint8Array): number {
  const segments = ogg.subarray(27, 27 + (ogg[26] as number));
  return 27 + segments.length + segments.reduce((sum, n) => sum + n, 0);
}

describe('corrupt files and encoded bodies', () => {
  let server: TestServer;
  let cacheDir: string;
  let page: Uint8Array;
  let mp3: Uint8Array;

  const post = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
    fetch(`${server.url}${path}`, { method: 'POST', body, headers });

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-hostile-'));
    const store = createModelStore({ repository: 'models', cacheDir });
    server = await startTestServer({
      tasks: [
        { definition: imageOcrTask, model: { name: 'ppocr-v4' } },
        { definition: speechVadTask, model: { name: 'silero-vad' } },
        { definition: textClassifyTask, model: { name: 'spam-fasttext' } },
      ],
      store,
    });
    const png = await renderText({
      width: 480,
      height: 120,
      lines: stackLines([{ text: 'invoice 4821', fontSize: 32 }]),
    });
    page = new Uint8Array(await sharp(png).jpeg({ quality: 85 }).toBuffer());
    mp3 = await encodedFixture('meeting', 'mp3', 16000);
    // Loads the OCR models now, so that the memory a test measures is the request's, not the sessions'.
    const warm = await post('/v1/image/ocr', page, { 'content-type': 'image/jpeg' });
    if (warm.status !== 200) throw new Error(`warm-up OCR request answered ${warm.status}`);
  });

  afterAll(async () => {
    await server?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  describe('images', () => {
    // First in the file, so the resident set it measures is not already grown by earlier large decodes.
    it('refuses a 6 KB JPEG whose header claims 6000×6600 with 422, without decoding the frame', async () => {
      const lying = withFrameSize(page, 6000, 6600);
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 2);

      const response = await post('/v1/image/ocr', lying, { 'content-type': 'image/jpeg' });
      const body = await readJson(response);
      clearInterval(sampler);

      expect(lying.byteLength).toBeLessThan(8 * 1024);
      expect(6000 * 6600).toBeLessThan(40_000_000); // under OCR_MAX_PIXELS: the header check lets it through
      expect(response.status).toBe(422);
      expect(body.error).toMatch(/JPEG image is truncated or corrupt: .*premature end of data segment/);
      // A full decode would hold 6000×6600×3 bytes (113 MiB) and more for the page's pre-processing.
      expect((peak - before) / 2 ** 20).toBeLessThan(64);
    });

    it('refuses a JPEG cut inside its scan with 422', async () => {
      const response = await post('/v1/image/ocr', page.subarray(0, page.byteLength - 400), {
        'content-type': 'image/jpeg',
      });

      expect(response.status).toBe(422);
      expect((await readJson(response)).error).toMatch(/JPEG image is truncated or corrupt/);
    });

    it('reads a real JPEG, and one with stray bytes before its end marker as cameras write them', async () => {
      const end = page.byteLength - 2;
      const stray = concat(page.subarray(0, end), new Uint8Array([0, 1, 2, 3]), page.subarray(end));

      for (const jpeg of [page, stray]) {
        const response = await post('/v1/image/ocr', jpeg, { 'content-type': 'image/jpeg' });

        expect(response.status).toBe(200);
        expect((await readJson(response)).text).toBe('invoice 4821');
      }
    });
  });

  describe('audio', () => {
    it('refuses garbage behind an ID3 tag with 422 instead of decoding noise', async () => {
      // Without the frame check the decoder finds false syncs in these bytes and "decodes" 0.36 s.
      const response = await post('/v1/speech/vad', concat(id3Tag(20), garbage(20_000, 4)), {
        'content-type': 'audio/mpeg',
      });

      expect(response.status).toBe(422);
      expect((await readJson(response)).error).toMatch(/^MP3: no (MPEG audio frame|two consecutive)/);
    });

    it('refuses one real frame header followed by garbage with 422', async () => {
      const response = await post('/v1/speech/vad', concat(id3Tag(20), mp3.subarray(0, 4), garbage(6000)), {
        'content-type': 'audio/mpeg',
      });

      expect(response.status).toBe(422);
      expect((await readJson(response)).error).toMatch(/^MP3: no two consecutive MPEG audio frames/);
    });

    it('refuses an MP3 that ends inside a frame with 422', async () => {
      const response = await post('/v1/speech/vad', mp3.subarray(0, mp3.byteLength - 50), {
        'content-type': 'audio/mpeg',
      });

      expect(response.status).toBe(422);
      expect((await readJson(response)).error).toMatch(/^MP3: the file ends inside a frame/);
    });

    it.each([
      ['FLAC', 'flac', 'audio/flac', /^FLAC: no audio/],
      ['Ogg Vorbis', 'vorbis', 'audio/ogg', /^Ogg Vorbis: no audio/],
      ['Ogg Opus', 'opus', 'audio/ogg', /^Ogg Opus: no audio/],
    ] as const)('refuses a %s header followed by garbage with 422', async (_name, format, type, message) => {
      const real = await encodedFixture(
        format === 'vorbis' ? 'three-sentences' : 'meeting',
        format,
        {
          flac: 16000,
          vorbis: 22050,
          opus: 16000,
        }[format],
      );
      // The identification header alone (FLAC's STREAMINFO, Ogg's first page), then no real audio data.
      const headerBytes = format === 'flac' ? 42 : firstOggPageLength(real);

      const response = await post('/v1/speech/vad', concat(real.subarray(0, headerBytes), garbage(20_000)), {
        'content-type': type,
      });

      expect(response.status).toBe(422);
      expect((await readJson(response)).error).toMatch(message);
    });

    it('finds the speech of a real MP3, with and without an ID3 tag before it', async () => {
      for (const file of [mp3, concat(id3Tag(300), mp3)]) {
        const response = await post('/v1/speech/vad', file, { 'content-type': 'audio/mpeg' });

        expect(response.status).toBe(200);
        const body = await readJson(response);
        expect(body.sampleRate).toBe(16000);
        expect(body.segments).toHaveLength(2);
      }
    });
  });

  describe('Content-Encoding', () => {
    const text = 'Subject: lunch\nShall we meet at noon on Friday?';

    it('refuses a body marked gzip that is not gzip with 415, naming identity as what it accepts', async () => {
      const response = await post('/v1/text/classify', text, {
        'content-type': 'text/plain',
        'content-encoding': 'gzip',
      });

      expect(response.status).toBe(415);
      expect(response.headers.get('accept-encoding')).toBe('identity');
      expect((await readJson(response)).error).toBe(
        'Content-Encoding gzip is not supported; send the body uncompressed (identity)',
      );
    });

    it.each([
      ['real gzip', 'gzip', '/v1/text/classify', 'text/plain', gzipSync(text)],
      ['a chain of codings', 'identity, br', '/v1/text/classify', 'text/plain', text],
      ['an unknown coding on an image', 'x-made-up', '/v1/image/ocr', 'image/png', new Uint8Array(16)],
    ])('refuses %s with 415, unread', async (_label, encoding, path, type, body) => {
      const response = await post(path, body, { 'content-type': type, 'content-encoding': encoding });

      expect(response.status).toBe(415);
      expect((await readJson(response)).error).toMatch(/^Content-Encoding .* is not supported/);
    });

    it('cuts a long Content-Encoding short in the error', async () => {
      const response = await post('/v1/text/classify', text, {
        'content-type': 'text/plain',
        'content-encoding': 'x'.repeat(5000),
      });

      expect(response.status).toBe(415);
      expect(((await readJson(response)).error as string).length).toBeLessThan(120);
    });

    it('refuses a gzip-marked body with 415 through the Lambda door too (API Gateway passes the header on)', async () => {
      const handler = createLambdaHttpHandler(server.runtime.app);
      const event = httpApiEvent('POST', '/v1/text/classify', { body: text, contentType: 'text/plain' });

      const plain = await handler(event, lambdaContext('inferlet-text'));
      const marked = await handler(
        { ...event, headers: { ...event.headers, 'content-encoding': 'gzip' } },
        lambdaContext('inferlet-text'),
      );

      expect(plain.statusCode).toBe(200);
      expect(marked.statusCode).toBe(415);
      expect(JSON.parse(marked.body ?? '{}').error).toMatch(/^Content-Encoding gzip is not supported/);
    });

    it('classifies a body marked identity as it classifies an unmarked one', async () => {
      const marked = await post('/v1/text/classify', text, {
        'content-type': 'text/plain',
        'content-encoding': 'identity',
      });
      const unmarked = await post('/v1/text/classify', text, { 'content-type': 'text/plain' });

      expect(marked.status).toBe(200);
      expect(unmarked.status).toBe(200);
      const [a, b] = [await readJson(marked), await readJson(unmarked)];
      expect(a.results).toHaveLength(1);
      expect(a.results).toEqual(b.results);
    });
  });
});
