/**
 * The burst of issue 12's admission criterion, shared by `test/server/admission.test.ts` and `npm run
 * bench:load`: many OCR requests sent at once to a running server, with work-free control requests in the
 * same burst (the same body to a route the server does not have, answered 404 without any work). The
 * controls share the client's connection setup, the accept queue and the CPU with the refusals, so they
 * measure what answering anything costs in that burst on that machine; a refusal is judged against them.
 */
import { median } from '../../bench/stats.ts';
import { probeDuring } from './loop-probe.ts';
import { renderText, stackLines } from './render-text.ts';

/** One answer of the burst. */
export interface BurstAnswer {
  readonly status: number;
  /** From sending the request to the whole answer read. */
  readonly ms: number;
  readonly retryAfter: string | null;
  readonly body: string;
}

/** What one burst measured; times in ms, rounded to 0.1. */
export interface BurstSummary {
  readonly served: number;
  readonly slowestServedMs: number;
  readonly refused: number;
  readonly refusalMedianMs: number;
  readonly refusalSlowestMs: number;
  /** Control requests sent after the first refusal (the same part of the burst as the refusals). */
  readonly controls: number;
  readonly controlMedianMs: number;
  readonly controlSlowestMs: number;
  /** The longest health probe (`GET /v2/health/live`, one after another) while the burst ran. */
  readonly probeSlowestMs: number;
  /** OCR answers neither 200 nor 503, and controls not 404: none is expected. */
  readonly otherStatuses: readonly number[];
}

/** A burst's answers and what the health probes saw meanwhile. */
export interface Burst {
  /** Answers of the OCR requests, in the order sent. */
  readonly answers: readonly BurstAnswer[];
  /** Answers of the control requests sent after the first refusal. */
  readonly lateControls: readonly BurstAnswer[];
  /** Answers of every control request, in the order sent. */
  readonly controls: readonly BurstAnswer[];
  readonly probeSlowestMs: number;
  readonly probeFailures: readonly string[];
}

/** The route the controls are sent to: the server has none, so it answers 404 at once. */
export const CONTROL_PATH = '/v1/image/none';
/** One request in this many of a burst is a control (22 of 222 for 200 OCR requests). */
const CONTROL_EVERY = 10;

/**
 * A receipt of six lines, 640×360: ~0.3 s of OCR on 2 cores, so that 200 of them are far more than the
 * 10 s an accepted request may wait.
 */
export function renderBurstReceipt(): Promise<Uint8Array> {
  return renderText({
    width: 640,
    height: 360,
    lines: stackLines(
      ['Invoice 2041', 'Paper 12.50', 'Toner 48.00', 'Cables 7.25', 'Total 67.75', 'Paid by card'].map(
        (text) => ({ text, fontSize: 30 }),
      ),
    ),
  });
}

/** Sends one PNG to `base` + `path` and reads the whole answer. */
export async function postImage(base: string, png: Uint8Array, path = '/v1/image/ocr'): Promise<BurstAnswer> {
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
}

/** Whether the burst's request at this index is a control. */
const isControl = (i: number): boolean => i % CONTROL_EVERY === CONTROL_EVERY - 1;

/**
 * Sends `atOnce` OCR requests of `png` and, among them, one control in every ten, all at once, while probing
 * the server's health; resolves when every one is answered.
 */
export async function sendOcrBurst(base: string, png: Uint8Array, atOnce = 200): Promise<Burst> {
  const controls = Math.floor(atOnce / (CONTROL_EVERY - 1));
  const { result, probe } = await probeDuring(base, () =>
    Promise.all(
      Array.from({ length: atOnce + controls }, (_, i) =>
        isControl(i) ? postImage(base, png, CONTROL_PATH) : postImage(base, png),
      ),
    ),
  );
  // The first requests of a burst are admitted and the later ones refused; the controls sent before the
  // first refusal met a shorter accept queue, so refusals are compared with those sent after it.
  const firstRefused = result.findIndex((a, i) => !isControl(i) && a.status === 503);
  return {
    answers: result.filter((_, i) => !isControl(i)),
    controls: result.filter((_, i) => isControl(i)),
    lateControls: result.filter((_, i) => isControl(i) && firstRefused >= 0 && i > firstRefused),
    probeSlowestMs: probe.maxMs,
    probeFailures: probe.failures,
  };
}

const slowest = (values: readonly number[]): number => (values.length ? Math.max(...values) : 0);
const middle = (values: readonly number[]): number => (values.length ? median(values) : 0);
const tenth = (ms: number): number => Math.round(ms * 10) / 10;

/** The figures of one burst. */
export function summariseBurst(burst: Burst): BurstSummary {
  const served = burst.answers.filter((a) => a.status === 200).map((a) => a.ms);
  const refused = burst.answers.filter((a) => a.status === 503).map((a) => a.ms);
  const controls = burst.lateControls.map((a) => a.ms);
  return {
    served: served.length,
    slowestServedMs: tenth(slowest(served)),
    refused: refused.length,
    refusalMedianMs: tenth(middle(refused)),
    refusalSlowestMs: tenth(slowest(refused)),
    controls: controls.length,
    controlMedianMs: tenth(middle(controls)),
    controlSlowestMs: tenth(slowest(controls)),
    probeSlowestMs: tenth(burst.probeSlowestMs),
    otherStatuses: [
      ...burst.answers.filter((a) => a.status !== 200 && a.status !== 503),
      ...burst.controls.filter((a) => a.status !== 404),
    ].map((a) => a.status),
  };
}
