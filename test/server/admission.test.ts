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

  const ocr = async (png: Uint8Array): Promise<Answer> => {
    const sent = performance.now();
    const response = await fetch(`${base}/v1/image/ocr`, {
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

    const { result: answers, probe } = await probeDuring(base, () =>
      Promise.all(Array.from({ length: AT_ONCE }, () => ocr(png))),
    );
    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    const ready = await fetch(`${base}/v2/health/ready`);
    const after = await ocr(png);

    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(served.length).toBeGreaterThan(4);
    expect(refused.length).toBeGreaterThan(0);
    expect(JSON.parse(served[0]?.body ?? '{}').text).toMatch(/Invoice/);
    expect(Math.max(...served.map((a) => a.ms))).toBeLessThan(SERVED_MS);
    // A refusal is decided before the body is read and waits on no model: it comes back as fast as the server
    // answers anything. On a quiet machine that is within the 250 ms; where other work holds the
    // CPU (measured here at load average 7-9 on 2 cores: a health probe took up to ~1 s during the burst),
    // within twice the slowest health probe sent at the same time.
    expect(Math.max(...refused.map((a) => a.ms))).toBeLessThan(Math.max(REFUSAL_MS, 2 * probe.maxMs));
    for (const a of refused) {
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(a.body).error).toMatch(/too many image\/ocr requests/);
    }
    expect(ready.status).toBe(200);
    expect(after.status).toBe(200);
    console.info(
      `admission: ${served.length} served (slowest ${Math.round(Math.max(...served.map((a) => a.ms)))} ms), ` +
        `${refused.length} refused (slowest ${Math.round(Math.max(...refused.map((a) => a.ms)))} ms), ` +
        `slowest health probe ${Math.round(probe.maxMs)} ms`,
    );
  }, 90_000);
});
