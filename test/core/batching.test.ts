import { resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { batchingPays, DynamicBatcher } from '../../functions/core/batching.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import { hamText, spamText } from './uploads/text-upload-fixture.ts';

/** A batcher over a run that doubles numbers, recording each run's items. */
function doubling(options: { maxBatch?: number; maxDelayMs?: number; maxWeight?: number } = {}) {
  const runs: number[][] = [];
  const batcher = new DynamicBatcher<number, number>({
    maxBatch: options.maxBatch ?? 100,
    maxDelayMs: options.maxDelayMs ?? 0,
    ...(options.maxWeight ? { maxWeight: options.maxWeight, weigh: (n: number) => n } : {}),
    run: async (items) => {
      runs.push([...items]);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((n) => n * 2);
    },
  });
  return { batcher, runs };
}

describe('DynamicBatcher', () => {
  it('merges the items of concurrent requests into one run and gives each request its own results', async () => {
    const { batcher, runs } = doubling();

    const results = await Promise.all([
      batcher.submit([1, 2]),
      batcher.submit([3]),
      batcher.submit([4, 5, 6]),
    ]);

    expect(results).toEqual([[2, 4], [6], [8, 10, 12]]);
    expect(runs).toEqual([[1, 2, 3, 4, 5, 6]]);
  });

  it('batches what queued during a run into the next run, at once', async () => {
    const { batcher, runs } = doubling();

    const first = batcher.submit([1]);
    await new Promise((r) => setImmediate(r));
    const later = [batcher.submit([2]), batcher.submit([3])];
    await Promise.all([first, ...later]);

    expect(runs).toEqual([[1], [2, 3]]);
  });

  it('cuts runs at maxBatch items and at maxWeight, keeping each request whole and in order', async () => {
    const byCount = doubling({ maxBatch: 3 });
    const byWeight = doubling({ maxWeight: 10 });

    const counted = await Promise.all([byCount.batcher.submit([1, 2]), byCount.batcher.submit([3, 4])]);
    const weighed = await Promise.all([byWeight.batcher.submit([6]), byWeight.batcher.submit([5])]);
    const large = await byCount.batcher.submit([1, 2, 3, 4, 5, 6, 7]);

    expect(counted).toEqual([
      [2, 4],
      [6, 8],
    ]);
    expect(byCount.runs.slice(0, 2)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(weighed).toEqual([[12], [10]]);
    expect(byWeight.runs).toEqual([[6], [5]]);
    expect(large).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(byCount.runs.slice(2)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('waits up to maxDelayMs for company while idle', async () => {
    const { batcher, runs } = doubling({ maxDelayMs: 30 });

    const first = batcher.submit([1]);
    await new Promise((r) => setTimeout(r, 10));
    const second = batcher.submit([2]);
    await Promise.all([first, second]);

    expect(runs).toEqual([[1, 2]]);
  });

  it('fails every request of a failed run and runs the next ones', async () => {
    let fail = true;
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 10,
      maxDelayMs: 0,
      run: async (items) => {
        if (fail) {
          fail = false;
          throw new Error('session failed');
        }
        return items;
      },
    });

    const failed = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
    const after = await batcher.submit([3]);

    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(after).toEqual([3]);
  });
});

describe('batchingPays', () => {
  it('says yes where an item costs much less in a batch, and no for the recogniser on 2 CPU cores', () => {
    // FACTS: WebGPU recogniser 20 ms one line, 100 ms for 32; CPU [1,3,48,320] ~19 ms, [5,3,48,320] ~96 ms.
    expect(batchingPays({ singleMs: 20, batchMs: 100, size: 32 })).toBe(true);
    expect(batchingPays({ singleMs: 19, batchMs: 96, size: 5 })).toBe(false);
  });

  it('says no where a batch is cheaper per item but saves less than a request costs besides its run', () => {
    // The text classifier here: ~0.05 ms alone, ~0.3 ms for 32 texts.
    expect(batchingPays({ singleMs: 0.05, batchMs: 0.3, size: 32 })).toBe(false);
    expect(batchingPays({ singleMs: 0.05, batchMs: 0.3, size: 32 }, { minSavedMs: 0.01 })).toBe(true);
  });
});

describe('the text classifier batched', () => {
  afterEach(() => vi.unstubAllEnvs());

  const classifier = async (batching: 'on' | 'off') => {
    vi.stubEnv('BATCHING', batching);
    const store = createModelStore({ repository: resolve('models') });
    return TextClassifier.create(await store.load('spam-fasttext'));
  };

  it('leaves batching off by default (auto) on this CPU, where a run saves too little a text to pay', async () => {
    vi.stubEnv('BATCHING', 'auto');
    const store = createModelStore({ repository: resolve('models') });
    const auto = await TextClassifier.create(await store.load('spam-fasttext'));

    await auto.classify([spamText(1)]);

    // biome-ignore lint/suspicious/noExplicitAny: the batcher is private; the test reads the decision.
    expect(await (auto as any).batcher).toBeUndefined();
  });

  it('gives concurrent requests exactly the scores of unbatched runs, from fewer session runs', async () => {
    const texts = Array.from({ length: 24 }, (_, i) => (i % 3 ? hamText(i) : spamText(i)));
    const requests = [texts.slice(0, 1), texts.slice(1, 9), texts.slice(9, 10), texts.slice(10)];
    const alone = await classifier('off');
    const batched = await classifier('on');
    const expected = [];
    for (const request of requests) expected.push(await alone.classify(request, { explainTokens: 3 }));
    // biome-ignore lint/suspicious/noExplicitAny: the session is private; the test counts its runs.
    const session = (batched as any).session;
    const run = vi.spyOn(session, 'run');

    const got = await Promise.all(requests.map((request) => batched.classify(request, { explainTokens: 3 })));

    expect(got).toEqual(expected);
    expect(run.mock.calls.length).toBeLessThan(requests.length);
  });
});
