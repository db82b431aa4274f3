import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileByteSource } from '../../functions/speech/byte-source.ts';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import type { SileroVad, VadResult } from '../../functions/speech/vad.ts';
import { type SileroRepository, sileroRepository } from '../support/silero-model.ts';
import { compose, encodedFixture, SCRIPTS, type SpokenAudio, wavOf } from '../support/spoken-audio.ts';

/** How far a segment boundary may lie from where the speech was placed. */
const TOLERANCE_S = 0.25;

/** Three sentences between silences of 1.2, 1.5, 2 and 1 seconds. */
const SCRIPT = SCRIPTS['three-sentences'];

function expectSegmentsAtTruth(result: VadResult, audio: SpokenAudio): void {
  expect(result.segments).toHaveLength(audio.truth.length);
  result.segments.forEach((segment, i) => {
    const truth = audio.truth[i] as { start: number; end: number };
    expect(Math.abs(segment.start - truth.start)).toBeLessThanOrEqual(TOLERANCE_S);
    expect(Math.abs(segment.end - truth.end)).toBeLessThanOrEqual(TOLERANCE_S);
    expect(segment.confidence).toBeGreaterThan(0.8);
  });
}

describe('Silero VAD on spoken sentences', () => {
  let repo: SileroRepository;
  let fp32: SileroVad;
  let fp16: SileroVad;
  let clean: SpokenAudio;
  let noisy: SpokenAudio;

  beforeAll(async () => {
    repo = await sileroRepository();
    [fp32, fp16, clean, noisy] = await Promise.all([
      repo.vad('fp32'),
      repo.vad('fp16'),
      compose(SCRIPT),
      // White noise at 0.01 RMS: about 20 dB below the speech.
      compose(SCRIPT, { noiseRms: 0.01 }),
    ]);
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it.each([8000, 16000, 22050, 44100])(
    'finds each sentence within 0.25 s in 16-bit audio at %i Hz',
    async (rate) => {
      const wav = wavOf(clean, { rate });

      const result = await fp32.detect((await decodeAudio(wav)).samples);

      expect(result.sampleRate).toBe(rate);
      expect(result.modelSampleRate).toBe(rate === 8000 ? 8000 : 16000);
      expect(result.duration).toBeCloseTo(clean.samples.length / clean.sampleRate, 2);
      expectSegmentsAtTruth(result, clean);
    },
  );

  it.each([8000, 16000, 22050, 44100])(
    'finds each sentence within 0.25 s over white noise at %i Hz',
    async (rate) => {
      const wav = wavOf(noisy, { rate });

      const result = await fp32.detect((await decodeAudio(wav)).samples);

      expectSegmentsAtTruth(result, noisy);
    },
  );

  it.each([16000, 22050, 44100])(
    'finds each sentence within 0.25 s with the fp16 variant at %i Hz',
    async (rate) => {
      const wav = wavOf(clean, { rate });

      const result = await fp16.detect((await decodeAudio(wav)).samples);

      expect(result.modelSampleRate).toBe(16000);
      expectSegmentsAtTruth(result, clean);
    },
  );

  it.each([
    ['FLAC', 'flac', 44100],
    ['Ogg Vorbis', 'vorbis', 22050],
    ['MP3', 'mp3', 16000],
    ['Ogg Opus', 'opus', 16000],
  ] as const)('finds each sentence within 0.25 s in %s (%s from %i Hz)', async (_label, format, rate) => {
    const bytes = await encodedFixture('three-sentences', format, rate);

    const audio = await decodeAudio(bytes);
    const result = await fp32.detect(audio.samples);

    expect(audio.format).toBe(format);
    // Opus always decodes at 48 kHz; MP3 adds its encoder delay (about 70 ms) to the duration.
    expect(result.duration).toBeCloseTo(clean.samples.length / clean.sampleRate, format === 'mp3' ? 0 : 2);
    expectSegmentsAtTruth(result, clean);
  });

  it.each([
    ['silence', 0, 8000],
    ['silence', 0, 16000],
    ['white noise', 0.05, 8000],
    ['white noise', 0.05, 16000],
    ['loud white noise', 0.2, 44100],
  ])('finds no speech in %s (%s RMS) at %i Hz', async (_label, noiseRms, rate) => {
    const audio = await compose([{ silence: 6 }], { noiseRms });
    const wav = wavOf(audio, { rate });

    const [a, b] = await Promise.all([
      fp32.detect((await decodeAudio(wav)).samples),
      fp16.detect((await decodeAudio(wav)).samples),
    ]);

    expect(a.segments).toEqual([]);
    expect(a.speechRatio).toBe(0);
    expect(b.segments).toEqual([]);
  });

  describe('every sample format', () => {
    let reference: VadResult;

    beforeAll(async () => {
      reference = await fp32.detect((await decodeAudio(wavOf(clean, { rate: 16000 }))).samples);
    });

    it.each([
      ['8-bit unsigned', { bits: 8 }],
      ['24-bit (WAVE_FORMAT_EXTENSIBLE)', { bits: 24 }],
      ['32-bit integer (WAVE_FORMAT_EXTENSIBLE)', { bits: 32 }],
      ['32-bit float', { encoding: 'float', bits: 32 }],
      ['64-bit float', { encoding: 'float', bits: 64 }],
      ['16-bit stereo', { channels: 2 }],
      ['24-bit three channels', { bits: 24, channels: 3 }],
      ['G.711 mu-law', { encoding: 'mu-law' }],
      ['G.711 A-law', { encoding: 'a-law' }],
    ] as const)('gives the segments of 16-bit mono for %s', async (_label, format) => {
      const wav = wavOf(clean, { rate: 16000, ...format });

      const result = await fp32.detect((await decodeAudio(wav)).samples);

      expect(result.segments).toHaveLength(reference.segments.length);
      result.segments.forEach((segment, i) => {
        const want = reference.segments[i] as VadResult['segments'][number];
        // One 32 ms window either way: the coarser formats add quantisation noise near the thresholds.
        expect(Math.abs(segment.start - want.start)).toBeLessThanOrEqual(0.033);
        expect(Math.abs(segment.end - want.end)).toBeLessThanOrEqual(0.033);
        expect(Math.abs(segment.confidence - want.confidence)).toBeLessThan(0.05);
      });
    });
  });

  it('answers a batch of files at several rates as it answers each alone', async () => {
    const short = await compose([{ silence: 0.5 }, SCRIPT[1], { silence: 0.7 }]);
    const files = await Promise.all([
      wavOf(clean, { rate: 16000 }),
      wavOf(short, { rate: 16000 }),
      wavOf(noisy, { rate: 44100 }),
      wavOf(clean, { rate: 8000 }),
      wavOf(short, { rate: 8000 }),
    ]);

    const batch = await fp32.detectBatch(
      await Promise.all(files.map(async (f) => (await decodeAudio(f)).samples)),
    );
    const alone: VadResult[] = [];
    for (const f of files) alone.push(await fp32.detect((await decodeAudio(f)).samples));

    expect(batch).toHaveLength(files.length);
    batch.forEach((result, i) => {
      const want = alone[i] as VadResult;
      expect(result.duration).toBe(want.duration);
      expect(result.segments.map((s) => [s.start, s.end])).toEqual(
        want.segments.map((s) => [s.start, s.end]),
      );
      result.segments.forEach((s, k) => {
        expect(s.confidence).toBeCloseTo(want.segments[k]?.confidence as number, 2);
      });
    });
  });

  it('streams a file from disk with the same result as from memory', async () => {
    const wav = wavOf(clean, { rate: 44100, bits: 24, channels: 2 });
    const path = join(repo.cacheDir, '..', 'clean-44k.wav');
    await writeFile(path, wav);
    const file = openFileByteSource(path);

    let fromDisk: VadResult;
    try {
      fromDisk = await fp32.detect((await decodeAudio(file)).samples);
    } finally {
      file.close();
    }
    const fromMemory = await fp32.detect((await decodeAudio(wav)).samples);

    expect(fromDisk).toEqual(fromMemory);
    expectSegmentsAtTruth(fromDisk, clean);
  });
});
