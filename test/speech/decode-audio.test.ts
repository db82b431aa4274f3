import { describe, expect, it } from 'vitest';
import { UndecodableContentError, UnsupportedMediaTypeError } from '../../functions/core/errors.ts';
import { type ByteSource, memoryByteSource } from '../../functions/speech/byte-source.ts';
import { decodeAudio } from '../../functions/speech/decode-audio.ts';
import { readAllSamples } from '../../functions/speech/sample-source.ts';
import { floatData, pcmData, wavBytes } from '../support/wav-bytes.ts';

/** A short ramp with both signs, as [left, right] frames where right is the negated left. */
const RAMP = Array.from({ length: 64 }, (_, i) => (i - 32) / 40);
const mono = RAMP.map((x) => [x]);
const stereo = RAMP.map((x) => [x, x / 2]);

/** The first page of an Ogg stream whose first packet starts with `packet`. */
function oggPage(packet: string): Buffer {
  const header = Buffer.alloc(28);
  header.write('OggS', 0, 'latin1');
  header[5] = 0x02; // beginning of stream
  header[26] = 1; // one segment
  header[27] = packet.length;
  return Buffer.concat([header, Buffer.from(packet, 'latin1')]);
}

/** A source that fails the test the moment anything asks for a byte past the end. */
function guarded(bytes: Uint8Array): ByteSource & { furthest: number } {
  const inner = memoryByteSource(bytes);
  const source = {
    size: inner.size,
    furthest: 0,
    read(offset: number, length: number) {
      const out = inner.read(offset, length);
      source.furthest = Math.max(source.furthest, offset + out.byteLength);
      if (offset > inner.size) throw new Error(`read at ${offset} past the end ${inner.size}`);
      return out;
    },
  };
  return source;
}

describe('decodeAudio', () => {
  it.each([
    ['8-bit unsigned PCM', { bitsPerSample: 8, data: pcmData(mono, 8) }, 1 / 128],
    ['16-bit PCM', { bitsPerSample: 16, data: pcmData(mono, 16) }, 1 / 32768],
    ['24-bit PCM', { bitsPerSample: 24, data: pcmData(mono, 24) }, 1e-6],
    ['32-bit PCM', { bitsPerSample: 32, data: pcmData(mono, 32) }, 1e-6],
    ['32-bit float', { formatTag: 3, bitsPerSample: 32, data: floatData(mono, 32) }, 1e-7],
    ['64-bit float', { formatTag: 3, bitsPerSample: 64, data: floatData(mono, 64) }, 1e-7],
    [
      'WAVE_FORMAT_EXTENSIBLE 24-bit PCM',
      { formatTag: 0xfffe, subFormat: 1, bitsPerSample: 24, data: pcmData(mono, 24) },
      1e-6,
    ],
    [
      'WAVE_FORMAT_EXTENSIBLE float',
      { formatTag: 0xfffe, subFormat: 3, bitsPerSample: 32, data: floatData(mono, 32) },
      1e-7,
    ],
  ] as const)('reads %s as the samples it holds', async (_label, layout, tolerance) => {
    const bytes = wavBytes(layout);

    const audio = await decodeAudio(bytes);
    const samples = await readAllSamples(audio.samples);

    expect(audio.sampleRate).toBe(16000);
    expect(samples).toHaveLength(RAMP.length);
    samples.forEach((s, i) => {
      expect(Math.abs(s - (RAMP[i] as number))).toBeLessThanOrEqual(tolerance);
    });
  });

  it.each([
    [2, 16, pcmData(stereo, 16)],
    [2, 24, pcmData(stereo, 24)],
  ] as const)('down-mixes %i channels of %i-bit audio to their mean', async (channels, bits, data) => {
    const bytes = wavBytes({ channels, bitsPerSample: bits, data });

    const audio = await decodeAudio(bytes);
    const samples = await readAllSamples(audio.samples);

    expect(audio.channels).toBe(channels);
    samples.forEach((s, i) => {
      expect(s).toBeCloseTo(((RAMP[i] as number) * 1.5) / 2, 4);
    });
  });

  it('decodes G.711 mu-law and A-law as the ITU tables say', async () => {
    const mulaw = wavBytes({
      formatTag: 7,
      bitsPerSample: 8,
      data: new Uint8Array([0xff, 0x80, 0x00, 0x7f]),
    });
    const alaw = wavBytes({ formatTag: 6, bitsPerSample: 8, data: new Uint8Array([0xd5, 0x55, 0xaa, 0x2a]) });

    const u = await readAllSamples((await decodeAudio(mulaw)).samples);
    const a = await readAllSamples((await decodeAudio(alaw)).samples);

    expect(Array.from(u, (x) => Math.round(x * 32768) + 0)).toEqual([0, 32124, -32124, 0]);
    expect(Array.from(a, (x) => Math.round(x * 32768) + 0)).toEqual([8, -8, 32256, -32256]);
  });

  it('skips unknown chunks before fmt and a pad byte after an odd one', async () => {
    const bytes = wavBytes({
      data: pcmData(mono, 16),
      extraChunks: [{ id: 'LIST', body: new Uint8Array(13).fill(65) }],
    });

    expect(await readAllSamples((await decodeAudio(bytes)).samples)).toHaveLength(RAMP.length);
  });

  it('reads a file in blocks without asking for a byte past its end', async () => {
    const long = Array.from({ length: 40_000 }, (_, i) => [Math.sin(i / 10), Math.cos(i / 10)]);
    const source = guarded(wavBytes({ channels: 2, bitsPerSample: 16, data: pcmData(long, 16) }));

    const samples = await readAllSamples((await decodeAudio(source)).samples);

    expect(samples).toHaveLength(long.length);
    expect(source.furthest).toBe(source.size);
  });

  const good = pcmData(mono, 16);
  const whole = wavBytes({ data: good });
  it.each([
    ['a file cut inside its data', () => whole.subarray(0, whole.length - 20), /truncated/],
    ['a file cut inside its header', () => whole.subarray(0, 30), /truncated|declares/],
    ['a file of 8 bytes', () => whole.subarray(0, 8), /too short/],
    ['a RIFF header of another type', () => Buffer.from('RIFF\x04\x00\x00\x00AVI '), /not a WAV|RIFF\/WAVE/],
    ['random bytes', () => new Uint8Array(256).fill(0x37), /not an audio file/],
    ['a zero-length data chunk', () => wavBytes({ data: new Uint8Array(0) }), /empty/],
    [
      'less than one frame of data',
      () => wavBytes({ channels: 2, data: new Uint8Array(2) }),
      /less than one frame/,
    ],
    [
      'a data size of 2 GiB in a small file',
      () => wavBytes({ data: good, dataSize: 0x7fffffff }),
      /declares/,
    ],
    [
      'a RIFF size of 4 GiB in a small file',
      () => wavBytes({ data: good, riffSize: 0xffffffff }),
      /declares/,
    ],
    ['data before fmt', () => wavBytes({ data: good, dataFirst: true }), /before the fmt/],
    ['ADPCM', () => wavBytes({ formatTag: 2, bitsPerSample: 4, blockAlign: 256, data: good }), /ADPCM/],
    ['12-bit PCM', () => wavBytes({ bitsPerSample: 12, blockAlign: 2, data: good }), /12-bit/],
    ['a 96 kHz rate', () => wavBytes({ sampleRate: 96000, data: good }), /96000 Hz/],
    ['a 4 kHz rate', () => wavBytes({ sampleRate: 4000, data: good }), /4000 Hz/],
    ['zero channels', () => wavBytes({ channels: 0, blockAlign: 2, data: good }), /0 channels/],
    ['a block align that does not fit', () => wavBytes({ blockAlign: 3, data: good }), /block align/],
  ])('refuses %s as undecodable', async (_label, bytes, message) => {
    const act = decodeAudio(bytes());

    await expect(act).rejects.toThrow(UndecodableContentError);
    await expect(act).rejects.toThrow(message);
  });

  it.each([
    ['a FLAC signature', Buffer.from('fLaC\x00\x00\x00\x22'), /FLAC: no audio/],
    ['an MP3 ID3 tag', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00'), /MP3: no audio/],
    ['an Ogg Vorbis page', oggPage('\x01vorbis'), /Ogg Vorbis: no audio/],
    ['an Ogg Opus page', oggPage('OpusHead'), /Ogg Opus: no audio/],
  ])('refuses %s with no audio after it as undecodable', async (_label, bytes, message) => {
    const act = decodeAudio(new Uint8Array(bytes));

    await expect(act).rejects.toThrow(UndecodableContentError);
    await expect(act).rejects.toThrow(message);
  });

  it.each([
    ['AIFF', Buffer.from('FORM\x00\x00\x10\x00AIFFCOMM')],
    ['M4A', Buffer.from('\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00')],
    ['WebM', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81])],
    ['Ogg FLAC', oggPage('\x7fFLAC')],
    ['Ogg Speex', oggPage('Speex   ')],
  ])('refuses %s as an unsupported media type', async (_label, bytes) => {
    await expect(decodeAudio(new Uint8Array(bytes))).rejects.toThrow(UnsupportedMediaTypeError);
  });
});
