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
import { median } from '../../bench/stats.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { postImage, renderBurstReceipt, sendOcrBurst, summariseBurst } from '../support/ocr-burst.ts';

const AT_ONCE = 200;
/** The bounds: a refusal within 250 ms, an accepted request answered within about 20 s. */
const REFUSAL_MS = 250;
const SERVED_MS = 20_000;
/** What a refusal may take beyond the work-free requests of its burst: its one step, the admission decision. */
const SLACK_MS = 50;
/** ...or this share of it where the burst is slower (a busier machine delays everything alike). */
const SLACK_SHARE = 0.2;

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

  it('refuses the overflow with 503 and Retry-After at once and answers the accepted within the wait', async () => {
    const png = await renderBurstReceipt();
    // A server in service has measured its service time; the first requests measure it here.
    for (let i = 0; i < 4; i++) expect((await postImage(base, png)).status).toBe(200);

    const burst = await sendOcrBurst(base, png, AT_ONCE);
    const summary = summariseBurst(burst);
    const served = burst.answers.filter((a) => a.status === 200);
    const refused = burst.answers.filter((a) => a.status === 503);
    const ready = await fetch(`${base}/v2/health/ready`);
    const after = await postImage(base, png);

    expect(burst.answers).toHaveLength(AT_ONCE);
    expect(summary.otherStatuses).toEqual([]);
    expect(summary.served).toBeGreaterThan(4);
    expect(summary.refused).toBeGreaterThan(0);
    expect(JSON.parse(served[0]?.body ?? '{}').text).toMatch(/Invoice/);
    expect(summary.slowestServedMs).toBeLessThan(SERVED_MS);
    // A refusal is decided before the body is read and waits on no model: it comes back as fast as the server
    // answers anything in the same part of the burst. The 250 ms holds where the burst itself costs
    // less; on a loaded 2-core machine, where the test's own client opens the 222 connections, the work-free
    // requests alone can take longer at their slowest, so a refusal may take as long as they do, no longer.
    const refusedMs = refused.map((a) => a.ms);
    const controlMs = burst.lateControls.map((a) => a.ms);
    const allowance = (ms: number): number => Math.max(REFUSAL_MS, ms + Math.max(SLACK_MS, ms * SLACK_SHARE));
    expect(controlMs.length).toBeGreaterThan(2);
    expect(median(refusedMs)).toBeLessThan(allowance(median(controlMs)));
    expect(Math.max(...refusedMs)).toBeLessThan(allowance(Math.max(...controlMs)));
    for (const a of refused) {
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(a.body).error).toMatch(/too many image\/ocr requests/);
    }
    expect(burst.probeFailures).toEqual([]);
    expect(ready.status).toBe(200);
    expect(after.status).toBe(200);
    console.info(
      `admission: ${summary.served} served (slowest ${Math.round(summary.slowestServedMs)} ms), ` +
        `${summary.refused} refused (median ${Math.round(summary.refusalMedianMs)}, slowest ${Math.round(summary.refusalSlowestMs)} ms), ` +
        `work-free requests of the burst (median ${Math.round(summary.controlMedianMs)}, slowest ${Math.round(summary.controlSlowestMs)} ms), ` +
        `slowest health probe ${Math.round(summary.probeSlowestMs)} ms`,
    );
  }, 90_000);
});
