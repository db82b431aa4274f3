import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { ModelRunner } from '../../functions/core/off-thread-session.ts';
import { Stopwatch } from '../../functions/core/timings.ts';
import { BatchPolicy, RunCostModel } from '../../functions/image/batch-policy.ts';
import { BEST_CLASS, BEST_PROBABILITY } from '../../functions/image/ctc-decode.ts';
import type { Quad } from '../../functions/image/geometry.ts';
import { recognizeLines } from '../../functions/image/text-recognition.ts';

/**
 * A recogniser stand-in that records the batch size of each run and answers the best path of a blank
 * line; `parallelism` copies, as a session pool has.
 */
function recordingRunner(parallelism: number): ModelRunner & { readonly batches: number[] } {
  const batches: number[] = [];
  const answer = (feeds: Record<string, ort.Tensor>) => {
    const [rows, , , width] = (feeds.x as ort.Tensor).dims as number[];
    batches.push(rows as number);
    const steps = (width as number) / 8;
    return Promise.resolve({
      [BEST_CLASS]: new ort.Tensor('int64', new BigInt64Array((rows as number) * steps), [
        rows as number,
        steps,
      ]),
      [BEST_PROBABILITY]: new ort.Tensor('float32', new Float32Array((rows as number) * steps), [
        rows as number,
        steps,
      ]),
    });
  };
  return {
    inputNames: ['x'],
    outputNames: ['probs', BEST_CLASS, BEST_PROBABILITY],
    parallelism,
    batches,
    run: answer,
    runAlone: answer,
  };
}

const image = {
  data: new Uint8Array(400 * 200 * 3).fill(255),
  width: 400,
  height: 200,
  format: 'png' as const,
};
const line = (y: number): Quad => [
  [10, y],
  [310, y],
  [310, y + 30],
  [10, y + 30],
];
// Costs where one run of any number of lines costs what one line does: every plan batches all lines.
const batching = {
  policy: new BatchPolicy(
    new RunCostModel([
      { lines: 1, width: 320, ms: 20 },
      { lines: 64, width: 320, ms: 20 },
    ]),
    'flat',
  ),
  maxLines: 6,
};
const read = (runner: ModelRunner, quads: Quad[]) =>
  recognizeLines(runner, image, quads, ['', 'a'], { height: 48, minWidth: 64 }, batching, new Stopwatch());

describe('recognizeLines', () => {
  it('reads each line in its own run, side by side, where there are no more lines than copies', async () => {
    const pool = recordingRunner(2);

    const results = await read(pool, [line(20), line(80)]);

    expect(pool.batches).toEqual([1, 1]);
    expect(results).toHaveLength(2);
  });

  it('follows the batch policy where there are more lines than copies, or one copy', async () => {
    const pool = recordingRunner(2);
    const single = recordingRunner(1);

    await read(pool, [line(20), line(80), line(140)]);
    await read(single, [line(20), line(80)]);

    expect(pool.batches).toEqual([3]);
    expect(single.batches).toEqual([2]);
  });
});
