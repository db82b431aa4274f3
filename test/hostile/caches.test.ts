/**
 * Hostile input, issue 10 finding 4: requests that each make the server build and keep something. A WAV
 * file of 364 bytes at a sample rate never seen before (47001 Hz, 47003 Hz, …) made `npm start`'s server
 * design a ~2 MiB resampling filter and keep it for good: 200 such requests took it from 563 to 950 MiB.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedFilterCount, MAX_CACHED_FILTERS, resample } from '../../functions/speech/resample.ts';
import { arraySampleSource, readAllSamples } from '../../functions/speech/sample-source.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';

/** A 16-bit mono PCM WAV file of 160 samples of a quiet tone (364 bytes) at any rate. */
function tinyWav(sampleRate: number): Uint8Array {
  const samples = 160;
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, bytes.length - 8, true);
  ascii(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) view.setInt16(44 + 2 * i, Math.round(1000 * Math.sin(i / 5)), true);
  return bytes;
}

/** The resident memory of a process, in MiB, as the kernel counts it. */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) / 1024;
}

describe('a server sent WAV files at many sample rates', () => {
  let work: string;
  let server: LocalServer;
  let url: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'inferlet-caches-'));
    const port = await freePort();
    server = await startLocalServer({
      directory: work,
      port,
      s3Port: await freePort(),
      env: { TASKS: 'speech/vad' },
    });
    url = `http://127.0.0.1:${port}/v1/speech/vad`;
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Sends one WAV file per rate, four at a time, and checks each is answered with its own rate. */
  async function sendRates(rates: readonly number[]): Promise<void> {
    const queue = [...rates];
    const worker = async () => {
      for (let rate = queue.shift(); rate !== undefined; rate = queue.shift()) {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'audio/wav' },
          body: tinyWav(rate),
        });
        const body = (await response.json()) as { sampleRate?: number; error?: string };
        expect(response.status, body.error).toBe(200);
        expect(body.sampleRate).toBe(rate);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  it('stays within 50 MiB of its memory after 200 requests at distinct sample rates', async () => {
    const pid = server.child.pid as number;
    // Warm-up: models loaded, code compiled, heap grown, and whatever a bounded cache keeps, filled.
    await sendRates(Array.from({ length: 40 }, (_, i) => 46_001 + 2 * i));
    const before = await rssMiB(pid);

    await sendRates(Array.from({ length: 200 }, (_, i) => 47_001 + 2 * i));
    const after = await rssMiB(pid);

    // Each rate's filter is ~2 MiB: keeping them all would add ~400 MiB.
    expect(after - before).toBeLessThan(50);
  }, 60_000);
});

describe('the resampler at many rates', () => {
  it('keeps a bounded number of filters, and a rate designed again resamples to the same samples', async () => {
    const input = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i / 3) * Math.cos(i / 17));
    const at = (rate: number) => readAllSamples(resample(arraySampleSource(input, rate), 16_000));
    const first = await at(47_001);

    for (let i = 1; i <= 3 * MAX_CACHED_FILTERS; i++) await at(47_001 + 2 * i);
    const again = await at(47_001);

    expect(cachedFilterCount()).toBeLessThanOrEqual(MAX_CACHED_FILTERS);
    expect(again).toEqual(first);
  });
});
