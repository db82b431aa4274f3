import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import { createSileroVad } from '../../functions/speech/task.ts';
import type { SileroVad, VadResult } from '../../functions/speech/vad.ts';
import { type SileroRepository, sileroRepository } from '../support/silero-model.ts';
import { compose, SCRIPTS, type SpokenAudio, wavOf } from '../support/spoken-audio.ts';

/** Results of one file found alone and found among concurrent calls: the same segments and confidences. */
function expectSameResult(got: VadResult, want: VadResult): void {
  expect(got.duration).toBe(want.duration);
  expect(got.speechRatio).toBe(want.speechRatio);
  expect(got.segments.map((s) => [s.start, s.end])).toEqual(want.segments.map((s) => [s.start, s.end]));
  got.segments.forEach((s, k) => {
    expect(s.confidence).toBeCloseTo(want.segments[k]?.confidence as number, 2);
  });
}

describe('Silero VAD windows of concurrent calls in shared runs', () => {
  let repo: SileroRepository;
  let shared: SileroVad;
  let alone: SileroVad;
  let files: Uint8Array[];

  beforeAll(async () => {
    repo = await sileroRepository();
    const load = () => repo.store.load('silero-vad', '1', 'fp32');
    let three: SpokenAudio;
    let short: SpokenAudio;
    [shared, alone, three, short] = await Promise.all([
      load().then((model) => createSileroVad(model, undefined, 'on')),
      load().then((model) => createSileroVad(model, undefined, 'off')),
      compose(SCRIPTS['three-sentences']),
      compose([{ silence: 0.4 }, SCRIPTS['three-sentences'][1] as { say: string }, { silence: 0.6 }]),
    ]);
    // Files of different lengths and rates, so that calls join and leave the shared runs at different steps.
    files = [
      wavOf(three, { rate: 16000 }),
      wavOf(short, { rate: 16000 }),
      wavOf(three, { rate: 44100 }),
      wavOf(short, { rate: 8000 }),
      wavOf(three, { rate: 8000 }),
      wavOf(short, { rate: 22050 }),
    ];
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it('answers each of several concurrent calls as a call alone answers it', async () => {
    const want: VadResult[] = [];
    for (const file of files) want.push(await alone.detect((await decodeAudio(file)).samples));

    const got = await Promise.all(
      files.map(async (file) => shared.detect((await decodeAudio(file)).samples)),
    );

    got.forEach((result, i) => {
      expectSameResult(result, want[i] as VadResult);
    });
    expect(want.every((result) => result.segments.length > 0)).toBe(true);
  });

  it('merges the windows of concurrent calls into fewer runs than windows', async () => {
    const before = shared.batchStats;

    const six = Array.from({ length: 6 }, () => files[0] as Uint8Array);

    await Promise.all(six.map(async (file) => shared.detect((await decodeAudio(file)).samples)));

    const runs = shared.batchStats.runs - before.runs;
    const windows = shared.batchStats.items - before.items;
    // Six calls of one file in lockstep would make a sixth of the runs; allow for calls that start late.
    expect(windows).toBeGreaterThan(6 * 300);
    expect(runs).toBeLessThan(windows / 3);
  });

  it('runs each call on its own when batching is off', async () => {
    await Promise.all(files.map(async (file) => alone.detect((await decodeAudio(file)).samples)));

    expect(alone.batchStats).toEqual({ runs: 0, items: 0 });
  });

  it('answers a multi-file call among concurrent single-file calls as alone', async () => {
    const sources = async () =>
      Promise.all(files.slice(0, 3).map(async (f) => (await decodeAudio(f)).samples));
    const want = await alone.detectBatch(await sources());

    const [batch, single] = await Promise.all([
      sources().then((s) => shared.detectBatch(s)),
      decodeAudio(files[3] as Uint8Array).then((audio) => shared.detect(audio.samples)),
    ]);

    batch.forEach((result, i) => {
      expectSameResult(result, want[i] as VadResult);
    });
    expectSameResult(single, await alone.detect((await decodeAudio(files[3] as Uint8Array)).samples));
  });
});
