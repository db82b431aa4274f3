/**
 * Admission control against `npm start`'s server (issue 12): 200 OCR requests at once on this 2-core
 * machine. Before, all were queued and the last answered after ~59 s. Now the overflow is refused with 503
 * and `Retry-After` at once, the accepted ones are answered within about the configured wait, nothing else
 * fails, and the server is ready afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { probeDuring } from '../support/loop-probe.ts';
import { renderText, stackLines } from '../support/render-text.ts';

const AT_ONCE = 200;
/** The bounds: a refusal within 250 ms, an accepted request answered within about 20 s. */
const REFUSAL_MS = 250;
const SERVED_MS = 20_000;
/** One request in this many of the burst is a work-free control; 22 of 222. */
const CONTROL_EVERY = 10;
const CONTROLS = Math.floor(AT_ONCE / (CONTROL_EVERY - 1));
/** What a refusal may take beyond the work-free requests of its burst: its one step, the admission decision. */
const SLACK_MS = 50;
/** ...or this share of it where the burst is slower (a busier machine delays everything alike). */
const SLACK_SHARE = 0.2;

/** Whether the burst's request at this index is a work-free control. */
const isControl = (i: number): boolean => i % CONTROL_EVERY === CONTROL_EVERY - 1;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

interface Answer {
  readonly status: number;
  readonly ms: number;
  readonly retryAfter: string | null;
  readonly body: string;
}

describe('npm start under 200 OCR requests at once', () => {
  let directory: string;
  let server: LocalServer;
  let base: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'inferlet-admission-'));
    const port = await freePort();
    server = await startLocalServer({
      directory,
      port,
      s3Port: await freePort(),
      env: { ADMISSION_MAX_WAIT_MS: '10000', ADMISSION_CONCURRENCY: '4' },
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await server?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  const ocr = async (png: Uint8Array, path = '/v1/image/ocr'): Promise<Answer> => {
    const sent = performance.now();
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    const body = await response.text();
    return {
      status: response.status,
      ms: performance.now() - sent,
      retryAfter: response.headers.get('retry-after'),
      body,
    };
  };

  it('refuses the overflow with 503 and Retry-After at once and answers the accepted within the wait', async () => {
    // A receipt of six lines: ~0.3 s of work here, so that 200 of them are more than 10 s of it.
    const png = await renderText({
      width: 640,
      height: 360,
      lines: stackLines(
        ['Invoice 2041', 'Paper 12.50', 'Toner 48.00', 'Cables 7.25', 'Total 67.75', 'Paid by card'].map(
          (text) => ({ text, fontSize: 30 }),
        ),
      ),
    });
    // A server in service has measured its service time; the first requests measure it here.
    for (let i = 0; i < 4; i++) expect((await ocr(png)).status).toBe(200);

    // Beside the OCR requests, in the same burst: requests the server answers without any work (the same body
    // to a route it does not have). They share the client's connection setup, the accept queue and the CPU
    // with the refusals, so they measure what answering anything costs in this burst on this machine.
    const { result: burst, probe } = await probeDuring(base, () =>
      Promise.all(
        Array.from({ length: AT_ONCE + CONTROLS }, (_, i) =>
          isControl(i) ? ocr(png, '/v1/image/none') : ocr(png),
        ),
      ),
    );
    const answers = burst.filter((_, i) => !isControl(i));
    const controls = burst.filter((_, i) => isControl(i));
    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    const ready = await fetch(`${base}/v2/health/ready`);
    const after = await ocr(png);

    expect(answers).toHaveLength(AT_ONCE);
    expect(controls.every((a) => a.status === 404)).toBe(true);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(served.length).toBeGreaterThan(4);
    expect(refused.length).toBeGreaterThan(0);
    expect(JSON.parse(served[0]?.body ?? '{}').text).toMatch(/Invoice/);
    expect(Math.max(...served.map((a) => a.ms))).toBeLessThan(SERVED_MS);
    // A refusal is decided before the body is read and waits on no model: it comes back as fast as the server
    // answers anything in the same part of the burst. The 250 ms holds where the burst itself costs
    // less; on this 2-core machine, where the test's own client opens the 220 connections, the work-free
    // requests alone take 150-450 ms at their slowest, so a refusal may take as long as they do, no longer.
    // The first requests of the burst are admitted and the later ones refused, so refusals are compared with
    // the work-free requests sent after the first refusal (those sent earlier meet a shorter accept queue).
    const firstRefused = burst.findIndex((a, i) => !isControl(i) && a.status === 503);
    const refusedMs = refused.map((a) => a.ms);
    const controlMs = burst.filter((_, i) => isControl(i) && i > firstRefused).map((a) => a.ms);
    const allowance = (ms: number): number => Math.max(REFUSAL_MS, ms + Math.max(SLACK_MS, ms * SLACK_SHARE));
    expect(controlMs.length).toBeGreaterThan(2);
    expect(median(refusedMs)).toBeLessThan(allowance(median(controlMs)));
    expect(Math.max(...refusedMs)).toBeLessThan(allowance(Math.max(...controlMs)));
    for (const a of refused) {
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(a.body).error).toMatch(/too many image\/ocr requests/);
    }
    expect(ready.status).toBe(200);
    expect(after.status).toBe(200);
    console.info(
      `admission: ${served.length} served (slowest ${Math.round(Math.max(...served.map((a) => a.ms)))} ms), ` +
        `${refused.length} refused (median ${Math.round(median(refusedMs))}, slowest ${Math.round(Math.max(...refusedMs))} ms), ` +
        `work-free requests of the burst (median ${Math.round(median(controlMs))}, slowest ${Math.round(Math.max(...controlMs))} ms), ` +
        `slowest health probe ${Math.round(probe.maxMs)} ms`,
    );
  }, 90_000);
});
