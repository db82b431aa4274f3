/**
 * The test audio helpers themselves: the speech tests are only as good as the audio they are given, so the
 * conversions and the committed fixtures are checked here against wavefile and plain signal arithmetic.
 */
import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SENTENCES as BENCH_SENTENCES } from '../../bench/speech-audio.ts';
import {
  ENCODED_FIXTURES,
  ESPEAK_RATE,
  encodedFixturePath,
  readWavSamples,
  SCRIPTS,
  type SpokenAudio,
  speak,
  type WavFormat,
  wavOf,
} from '../support/spoken-audio.ts';

/** One second of a sine at `hz` and amplitude 0.5, at espeak-ng's rate. */
function tone(hz: number): SpokenAudio {
  const samples = Float32Array.from(
    { length: ESPEAK_RATE },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / ESPEAK_RATE),
  );
  return { samples, sampleRate: ESPEAK_RATE, truth: [] };
}

/** RMS of the middle half, away from the edges where the kernel runs out of input. */
function middleRms(samples: Float32Array): number {
  const middle = samples.subarray(samples.length / 4, (3 * samples.length) / 4);
  return Math.sqrt(middle.reduce((sum, x) => sum + x * x, 0) / middle.length);
}

describe('wavOf', () => {
  it.each([
    [1000, 8000],
    [3000, 8000],
    [1000, 16000],
    [6000, 16000],
    [1000, 44100],
  ])('keeps a %i Hz tone at its amplitude and frequency when converting to %i Hz', (hz, rate) => {
    const wav = wavOf(tone(hz), { rate, encoding: 'float' });

    const { samples, sampleRate } = readWavSamples(wav);
    expect(sampleRate).toBe(rate);
    expect(samples.length).toBe(rate);
    expect(middleRms(samples)).toBeCloseTo(0.5 / Math.SQRT2, 2);
    for (let i = rate / 4; i < (3 * rate) / 4; i += 97)
      expect(samples[i]).toBeCloseTo(0.5 * Math.sin((2 * Math.PI * hz * i) / rate), 2);
  });

  it.each([
    [5000, 8000],
    [9000, 16000],
  ])('removes a %i Hz tone, above the Nyquist frequency of %i Hz, instead of aliasing it', (hz, rate) => {
    const wav = wavOf(tone(hz), { rate, encoding: 'float' });

    expect(middleRms(readWavSamples(wav).samples)).toBeLessThan(0.001);
  });

  // Tolerances: a few quantisation steps of the format (wavefile scales positive integers by 2^(n-1) - 1).
  it.each([
    ['8-bit unsigned PCM', { rate: 16000, bits: 8 }, 1, 8, 1, 4 / 256],
    ['16-bit PCM', { rate: 16000 }, 1, 16, 1, 4 / 65536],
    ['24-bit PCM, extensible', { rate: 16000, bits: 24 }, 0xfffe, 24, 1, 1e-6],
    ['32-bit PCM, extensible', { rate: 16000, bits: 32 }, 0xfffe, 32, 1, 1e-6],
    ['32-bit float', { rate: 16000, encoding: 'float' }, 3, 32, 1, 1e-7],
    ['64-bit float', { rate: 16000, encoding: 'float', bits: 64 }, 3, 64, 1, 1e-7],
    ['16-bit stereo', { rate: 16000, channels: 2 }, 1, 16, 2, 4 / 65536],
    ['24-bit three channels, extensible', { rate: 16000, bits: 24, channels: 3 }, 0xfffe, 24, 3, 1e-6],
  ] as [string, WavFormat, number, number, number, number][])(
    'writes %s with the header it declares and the samples it was given',
    (_label, format, formatTag, bits, channels, tolerance) => {
      const reference = readWavSamples(
        wavOf(tone(440), { rate: 16000, encoding: 'float', bits: 64 }),
      ).samples;

      const wav = wavOf(tone(440), format);

      const view = new DataView(wav.buffer, wav.byteOffset);
      expect(view.getUint16(20, true)).toBe(formatTag);
      expect(view.getUint16(22, true)).toBe(channels);
      expect(view.getUint16(34, true)).toBe(bits);
      const { samples } = readWavSamples(wav);
      expect(samples.length).toBe(reference.length);
      let worst = 0;
      for (let i = 0; i < samples.length; i++)
        worst = Math.max(worst, Math.abs((samples[i] as number) - (reference[i] as number)));
      expect(worst).toBeLessThanOrEqual(tolerance);
    },
  );

  it.each([
    ['mu-law', 7],
    ['a-law', 6],
  ] as const)('writes G.711 %s as 8-bit samples with format tag %i', (encoding, formatTag) => {
    const wav = wavOf(tone(440), { rate: 8000, encoding });

    const view = new DataView(wav.buffer, wav.byteOffset);
    expect(view.getUint16(20, true)).toBe(formatTag);
    expect(view.getUint16(34, true)).toBe(8);
    expect(view.getUint32(40, true)).toBe(8000);
  });
});

describe('the speech fixtures', () => {
  const spoken = new Set<string>([
    ...Object.values(SCRIPTS).flatMap((parts) => parts.flatMap((p) => ('say' in p ? [p.say] : []))),
    ...BENCH_SENTENCES,
  ]);

  it.each([...spoken])('hold a recording of "%s" with speech from its start to its end', async (text) => {
    const samples = await speak(text);

    // espeak-ng at 160 words a minute: well over 0.15 s a word.
    expect(samples.length / ESPEAK_RATE).toBeGreaterThan(0.15 * text.split(' ').length);
    expect(Math.abs(samples[0] as number)).toBeGreaterThanOrEqual(0.003);
    expect(Math.abs(samples[samples.length - 1] as number)).toBeGreaterThanOrEqual(0.003);
  });

  it.each(ENCODED_FIXTURES.map((f) => [f.script, f.format, f.rate] as const))(
    'hold the %s recording encoded as %s from %i Hz',
    async (script, format, rate) => {
      await expect(access(encodedFixturePath(script, format, rate))).resolves.toBeUndefined();
    },
  );
});
