import { describe, expect, it } from 'vitest';
import { Stopwatch } from '../../functions/core/timings.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Stopwatch', () => {
  it('adds the durations of a stage entered one after another', async () => {
    const watch = new Stopwatch();
    await watch.time('inference', () => sleep(30));
    await watch.time('inference', () => sleep(30));

    expect(watch.read().inference).toBeGreaterThanOrEqual(55);
  });

  it('counts overlapping entries of a stage once, for the time any of them was under way', async () => {
    const watch = new Stopwatch();
    await Promise.all([40, 40, 40, 40].map((ms) => watch.time('inference', () => sleep(ms))));
    const { inference, total } = watch.read();

    expect(inference).toBeGreaterThanOrEqual(35);
    expect(inference).toBeLessThanOrEqual(total);
  });
});
