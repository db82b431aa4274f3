import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UndecodableContentError } from '../../functions/core/errors.ts';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import { floatData, pcmData, wavBytes } from '../support/wav-bytes.ts';
import { FUZZ_SEED, fuzzRuns, resultOrRefusalAsync } from './fuzz-support.ts';

/**
 * Decodes `bytes` and reads every sample: either a client error, or audio whose sample count the bytes
 * can actually hold (a header cannot make the reader allocate more than the file) and whose samples are
 * finite numbers the VAD can take.
 */
async function decodesWithinTheFile(bytes: Uint8Array): Promise<void> {
  const audio = await resultOrRefusalAsync(() => decodeAudio(bytes));
  if (!audio) return;
  try {
    const { length } = audio.samples;
    if (audio.format === 'wav') expect(length).toBeLessThanOrEqual(bytes.byteLength);
    const block = new Float32Array(4096);
    let total = 0;
    for (;;) {
      const n = await resultOrRefusalAsync(async () => audio.samples.read(block, 0, block.length));
      if (n === undefined || n === 0) break;
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(block[i])) expect.fail(`sample ${total + i} is ${block[i]}`);
      }
      total += n;
    }
  } finally {
    audio.close();
  }
}

/** A well-formed WAV of a short tone, in one of the encodings the parser reads. */
const validWav = fc
  .record({
    encoding: fc.constantFrom('pcm8', 'pcm16', 'pcm24', 'pcm32', 'float32', 'float64', 'alaw', 'mulaw'),
    channels: fc.integer({ min: 1, max: 3 }),
    sampleRate: fc.constantFrom(8000, 16000, 44100, 48000),
    frames: fc.integer({ min: 1, max: 64 }),
    extensible: fc.boolean(),
    metadata: fc.boolean(),
  })
  .map(({ encoding, channels, sampleRate, frames, extensible, metadata }) => {
    const samples = Array.from({ length: frames }, (_, f) =>
      Array.from({ length: channels }, (_, c) => 0.5 * Math.sin((f + c) / 3)),
    );
    const [tag, bits, data] =
      encoding === 'float32'
        ? [3, 32, floatData(samples, 32)]
        : encoding === 'float64'
          ? [3, 64, floatData(samples, 64)]
          : encoding === 'alaw' || encoding === 'mulaw'
            ? [
                encoding === 'alaw' ? 6 : 7,
                8,
                Uint8Array.from({ length: frames * channels }, (_, i) => i * 37),
              ]
            : (() => {
                const b = Number(encoding.slice(3)) as 8 | 16 | 24 | 32;
                return [1, b, pcmData(samples, b)] as const;
              })();
    return wavBytes({
      formatTag: extensible ? 0xfffe : tag,
      subFormat: tag,
      channels,
      sampleRate,
      bitsPerSample: bits,
      data,
      extraChunks: metadata ? [{ id: 'LIST', body: new Uint8Array(10) }] : [],
    });
  });

/** A corruption of a file: bytes overwritten, 32-bit sizes that lie, and a cut. */
const mutation = fc.record({
  writes: fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { maxLength: 4 }),
  lies: fc.array(
    fc.record({
      at: fc.constantFrom(4, 16, 20, 22, 24, 28, 32, 36, 40, 44, 56, 64),
      value: fc.oneof(fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 0x80000000), fc.nat()),
    }),
    { maxLength: 2 },
  ),
  // A cut in one case of four: most files should get past the RIFF size check to reach the chunks.
  cut: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
});

function mutate(file: Uint8Array, m: typeof mutation extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  const bytes = file.slice();
  const view = new DataView(bytes.buffer);
  for (const { at, byte } of m.writes) bytes[at % bytes.length] = byte;
  for (const { at, value } of m.lies) if (at + 4 <= bytes.length) view.setUint32(at, value >>> 0, true);
  return m.cut === undefined ? bytes : bytes.subarray(0, m.cut % (bytes.length + 1));
}

describe('WAV parser under fuzzing', () => {
  it('refuses arbitrary bytes with a client error, however they start', async () => {
    const start = fc.constantFrom(
      '',
      'RIFF',
      'RIFF\x24\x00\x00\x00WAVE',
      'RIFF\xff\xff\xff\xffWAVEfmt ',
      'RIFX',
      'RF64',
    );
    await fc.assert(
      fc.asyncProperty(start, fc.uint8Array({ maxLength: 300 }), async (prefix, tail) => {
        const bytes = new Uint8Array(Buffer.concat([Buffer.from(prefix, 'latin1'), tail]));
        await decodesWithinTheFile(bytes);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(2000), timeout: 2000 },
    );
  });

  it('reads or refuses a valid WAV with corrupt bytes, lying chunk sizes or a cut', async () => {
    await fc.assert(
      fc.asyncProperty(validWav, mutation, async (file, m) => {
        await decodesWithinTheFile(mutate(file, m));
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(2000), timeout: 2000 },
    );
  });

  it('reads every valid WAV it is given, unmutated', async () => {
    await fc.assert(
      fc.asyncProperty(validWav, async (file) => {
        const audio = await decodeAudio(file);
        expect(audio.format).toBe('wav');
        expect(audio.samples.length).toBeGreaterThan(0);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(100) },
    );
  });

  it.each([
    [32, Number.NaN],
    [32, Number.POSITIVE_INFINITY],
    [64, Number.NaN],
    // Found by the property above: finite as a double, infinite once stored as a float32 sample.
    [64, 1e300],
  ] as const)('refuses a %i-bit float WAV holding %s', async (bits, bad) => {
    const file = wavBytes({
      formatTag: 3,
      bitsPerSample: bits,
      data: floatData([[0.1], [bad], [0.2]], bits),
    });

    const audio = await decodeAudio(file);

    expect(() => audio.samples.read(new Float32Array(3), 0, 3)).toThrow(UndecodableContentError);
  });
});
