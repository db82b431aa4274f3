import { describe, expect, it } from 'vitest';
import { resample } from '../../functions/speech/resample.ts';
import { arraySampleSource, readAllSamples } from '../../functions/speech/sample-source.ts';

function tone(frequency: number, sampleRate: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(sampleRate * seconds) }, (_, i) =>
    Math.sin((2 * Math.PI * frequency * i) / sampleRate),
  );
}

/** RMS of the middle of a signal, away from the filter's edges. */
function rms(samples: Float32Array): number {
  const middle = samples.subarray(Math.floor(samples.length * 0.2), Math.floor(samples.length * 0.8));
  return Math.sqrt(middle.reduce((sum, x) => sum + x * x, 0) / middle.length);
}

const dB = (ratio: number) => 20 * Math.log10(ratio);

describe('resample', () => {
  it.each([
    [44100, 16000, 1000],
    [44100, 16000, 6000],
    [48000, 16000, 5000],
    [22050, 16000, 3000],
    [8000, 16000, 3000],
    [16000, 8000, 3000],
  ])(
    'keeps the amplitude of a tone below the new Nyquist frequency (%i Hz to %i Hz, %i Hz tone)',
    async (from, to, f) => {
      const input = tone(f, from, 1);

      const output = await readAllSamples(resample(arraySampleSource(input, from), to));

      expect(Math.abs(dB(rms(output) / rms(input)))).toBeLessThan(0.1);
      // Still the same frequency: a unit sine of N samples has a Goertzel magnitude of N / 2.
      expect((2 * goertzel(output, f, to)) / output.length).toBeCloseTo(1, 1);
    },
  );

  it.each([
    [44100, 16000, 10000],
    [44100, 16000, 15000],
    [48000, 16000, 8500],
    [22050, 16000, 9000],
    [16000, 8000, 5000],
  ])(
    'attenuates a tone above the new Nyquist frequency by 60 dB (%i Hz to %i Hz, %i Hz tone)',
    async (from, to, f) => {
      const input = tone(f, from, 1);

      const output = await readAllSamples(resample(arraySampleSource(input, from), to));

      expect(dB(rms(output) / rms(input))).toBeLessThan(-60);
    },
  );

  it('suppresses the images of upsampling', async () => {
    // 3 kHz at 8 kHz, upsampled to 16 kHz, must not gain an image at 5 kHz.
    const output = await readAllSamples(resample(arraySampleSource(tone(3000, 8000, 1), 8000), 16000));

    const image = goertzel(output, 5000, 16000);
    const signal = goertzel(output, 3000, 16000);
    expect(dB(image / signal)).toBeLessThan(-60);
  });

  it.each([
    [44100, 16000],
    [22050, 16000],
    [8000, 16000],
    [44101, 16000],
  ])(
    'yields ceil(n × to / from) samples, the same in one read or many (%i Hz to %i Hz)',
    async (from, to) => {
      const input = Float32Array.from({ length: 10_007 }, (_, i) => Math.sin(i / 7) * Math.cos(i / 31));

      const whole = await readAllSamples(resample(arraySampleSource(input, from), to));
      const stream = resample(arraySampleSource(input, from), to);
      const pieces = new Float32Array(stream.length);
      let at = 0;
      for (let size = 1; at < pieces.length; size = (size * 3 + 1) % 997)
        at += stream.read(pieces, at, size + 1);

      expect(whole.length).toBe(Math.ceil((input.length * to) / from));
      expect(stream.read(pieces, 0, 10)).toBe(0);
      expect(pieces).toEqual(whole);
    },
  );

  it('returns the source itself when the rates match', async () => {
    const source = arraySampleSource(new Float32Array(10), 16000);

    expect(resample(source, 16000)).toBe(source);
  });
});

/** Magnitude of one frequency in a signal (Goertzel's algorithm). */
function goertzel(samples: Float32Array, frequency: number, sampleRate: number): number {
  const w = (2 * Math.PI * frequency) / sampleRate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s = x + c * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return Math.sqrt(s1 * s1 + s2 * s2 - c * s1 * s2);
}
