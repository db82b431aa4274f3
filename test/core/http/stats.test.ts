import { describe, expect, it } from 'vitest';
import { RequestStats } from '../../../functions/core/http/stats.ts';

describe('RequestStats', () => {
  it('gives p50 and p95 of the successful requests, counting the failed ones apart', () => {
    const stats = new RequestStats(['text/classify'], { now: () => 100_000 });
    for (let ms = 1; ms <= 100; ms++)
      stats.record('text/classify', { at: 99_000, latencyMs: ms, status: 200 });
    stats.record('text/classify', { at: 99_000, latencyMs: 5000, status: 500 });

    const { 'text/classify': task } = stats.snapshot();

    expect(task).toMatchObject({ count: 101, errors: 1, p50: 50, p95: 95 });
  });

  it('keeps only the newest requests of each task, up to its capacity', () => {
    const stats = new RequestStats(['image/ocr'], { capacity: 10, now: () => 1_000_000 });
    for (let i = 0; i < 1000; i++) stats.record('image/ocr', { at: 999_000, latencyMs: i, status: 200 });

    const task = stats.snapshot()['image/ocr'];

    expect(task?.count).toBe(10);
    // The last ten: 990..999.
    expect(task?.p50).toBe(994);
  });

  it('ignores tasks it does not serve, so a client cannot make it grow', () => {
    const stats = new RequestStats(['speech/vad']);

    stats.record('image/ocr', { at: Date.now(), latencyMs: 1, status: 200 });

    expect(Object.keys(stats.snapshot())).toEqual(['speech/vad']);
  });

  it('charts one point per time bucket within the horizon, oldest first', () => {
    const now = 600_000;
    const stats = new RequestStats(['text/classify'], {
      bucketMs: 10_000,
      horizonMs: 60_000,
      now: () => now,
    });
    stats.record('text/classify', { at: now - 120_000, latencyMs: 999, status: 200 }); // beyond the horizon
    stats.record('text/classify', { at: now - 25_000, latencyMs: 10, status: 200 });
    stats.record('text/classify', { at: now - 24_000, latencyMs: 30, status: 200 });
    stats.record('text/classify', { at: now - 5_000, latencyMs: 20, status: 200 });
    stats.record('text/classify', { at: now - 4_000, latencyMs: 70, status: 503 });

    const { series } = stats.snapshot()['text/classify'] ?? { series: [] };

    expect(series).toEqual([
      { at: 570_000, count: 2, p50: 10, p95: 30 },
      { at: 590_000, count: 2, p50: 20, p95: 20 },
    ]);
  });

  it('has no percentiles before the first successful request', () => {
    const stats = new RequestStats(['speech/vad']);

    expect(stats.snapshot()['speech/vad']).toEqual({ count: 0, errors: 0, p50: null, p95: null, series: [] });
  });
});
