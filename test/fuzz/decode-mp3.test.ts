import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { UndecodableContentError } from '../../functions/core/errors.ts';
import { memoryByteSource } from '../../functions/speech/byte-source.ts';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import { parseMpegFrameHeader } from '../../functions/speech/mpeg-audio-frames.ts';
import { readAllSamples } from '../../functions/speech/sample-source.ts';
import { encodedFixture } from '../support/spoken-audio.ts';
import { FUZZ_SEED, fuzzRuns, resultOrRefusalAsync } from './fuzz-support.ts';

/** An ID3v2.4 tag of `size` zero bytes after its header, the size written syncsafe (7 bits a byte). */
function id3Tag(size: number): Uint8Array {
  const syncsafe = [21, 14, 7, 0].map((shift) => (size >> shift) & 0x7f);
  return new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0, ...syncsafe, ...new Uint8Array(size)]);
}

/** The offsets where each frame of a file starts, following the lengths its headers declare. */
function frameStarts(mp3: Uint8Array): number[] {
  const starts: number[] = [];
  for (let at = 0; at < mp3.byteLength; ) {
    const frame = parseMpegFrameHeader(mp3, at);
    if (!frame) throw new Error(`no frame header at ${at}`);
    starts.push(at);
    at += frame.length;
  }
  return starts;
}

describe('MP3 frame checks under fuzzing', () => {
  let mp3: Uint8Array;
  let starts: number[];

  beforeAll(async () => {
    mp3 = await encodedFixture('meeting', 'mp3', 16000);
    starts = frameStarts(mp3);
  });

  it.each([
    // MPEG-1 layer III, 128 kb/s, 44.1 kHz: 144 × 128000 / 44100 = 417.96 bytes, padded to 418.
    ['MPEG-1 layer III 128 kb/s 44.1 kHz, padded', [0xff, 0xfb, 0x92, 0x00], 1, 3, 44100, 418],
    // MPEG-1 layer II, 192 kb/s, 48 kHz: 144 × 192000 / 48000 = 576.
    ['MPEG-1 layer II 192 kb/s 48 kHz', [0xff, 0xfd, 0xa4, 0x00], 1, 2, 48000, 576],
    // MPEG-1 layer I, 384 kb/s, 44.1 kHz: 4 × ⌊12 × 384000 / 44100⌋ = 4 × 104.
    ['MPEG-1 layer I 384 kb/s 44.1 kHz', [0xff, 0xff, 0xc0, 0x00], 1, 1, 44100, 416],
    // MPEG-2 layer III, 32 kb/s, 16 kHz, mono (the fixtures): 72 × 32000 / 16000 = 144.
    ['MPEG-2 layer III 32 kb/s 16 kHz', [0xff, 0xf3, 0x48, 0xc4], 2, 3, 16000, 144],
    // MPEG-2.5 layer III, 8 kb/s, 8 kHz: 72 × 8000 / 8000 = 72.
    ['MPEG-2.5 layer III 8 kb/s 8 kHz', [0xff, 0xe3, 0x18, 0xc4], 2.5, 3, 8000, 72],
  ])('reads the header of %s', (_label, bytes, version, layer, sampleRate, length) => {
    const header = parseMpegFrameHeader(new Uint8Array(bytes));

    expect(header).toMatchObject({ version, layer, sampleRate, length });
  });

  it.each([
    ['a reserved version', [0xff, 0xeb, 0x90, 0x00]],
    ['a reserved layer', [0xff, 0xf9, 0x90, 0x00]],
    ['bitrate index 15', [0xff, 0xfb, 0xf0, 0x00]],
    ['free format', [0xff, 0xfb, 0x00, 0x00]],
    ['a reserved sample rate', [0xff, 0xfb, 0x9c, 0x00]],
    ['a reserved emphasis', [0xff, 0xfb, 0x90, 0x02]],
    ['12 sync bits short of one', [0xff, 0x7b, 0x90, 0x00]],
  ])('refuses a header with %s', (_label, bytes) => {
    expect(parseMpegFrameHeader(new Uint8Array(bytes))).toBeUndefined();
  });

  it('follows the frames of a real MP3 to exactly its last byte', () => {
    expect(starts.length).toBeGreaterThan(100);
    const last = starts.at(-1) as number;
    expect(last + (parseMpegFrameHeader(mp3, last)?.length ?? 0)).toBe(mp3.byteLength);
  });

  it('refuses arbitrary bytes behind an ID3 tag with 422', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2000 }),
        fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
        async (tag, tail) => {
          // A chance pair of frame headers in random bytes is about one in a billion a position.
          await expect(decodeAudio(new Uint8Array([...id3Tag(tag), ...tail]))).rejects.toThrow(
            UndecodableContentError,
          );
        },
      ),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(150), timeout: 5000 },
    );
  });

  it('decodes a real MP3 cut between two frames, and refuses one cut inside a frame', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30_000 }), async (at) => {
        const cut = Math.min(at, mp3.byteLength);
        const bytes = mp3.subarray(0, cut);
        const betweenFrames = cut === mp3.byteLength || starts.includes(cut);

        if (betweenFrames && cut >= 2 * 144) {
          const audio = await decodeAudio(bytes);
          expect((await readAllSamples(audio.samples)).length).toBeGreaterThan(0);
        } else {
          await expect(decodeAudio(bytes)).rejects.toThrow(UndecodableContentError);
        }
      }),
      {
        seed: FUZZ_SEED,
        numRuns: fuzzRuns(30),
        timeout: 5000,
        // Cuts on frame boundaries would be rare at random; these make both branches run.
        examples: [[144 * 20], [144 * 2], [144], [mp3.byteLength]],
      },
    );
  });

  it('decodes or refuses with a client error a real MP3 with bytes overwritten', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { minLength: 1, maxLength: 8 }),
        async (writes) => {
          const bytes = mp3.slice();
          for (const { at, byte } of writes) bytes[at % bytes.length] = byte;

          const audio = await resultOrRefusalAsync(() => decodeAudio(memoryByteSource(bytes)));

          if (audio) {
            const samples = await resultOrRefusalAsync(() => readAllSamples(audio.samples));
            if (samples) expect(samples.every(Number.isFinite)).toBe(true);
          }
        },
      ),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(40), timeout: 5000 },
    );
  });
});
