import { UndecodableContentError } from '../core/errors.ts';
import type { ByteSource } from './byte-source.ts';
import type { SampleSource } from './sample-source.ts';

/** How the samples of a WAV file are stored. */
export type WavEncoding = 'pcm' | 'float' | 'alaw' | 'mulaw';

/** What the `fmt ` and `data` chunks of a WAV file declare, checked against the file. */
export interface WavFormat {
  readonly encoding: WavEncoding;
  /** Bits per sample as stored (the container size for WAVE_FORMAT_EXTENSIBLE). */
  readonly bitsPerSample: number;
  readonly channels: number;
  readonly sampleRate: number;
  /** Bytes per frame (one sample of every channel). */
  readonly blockAlign: number;
  /** Byte offset of the first sample. */
  readonly dataOffset: number;
  /** Whole frames in the data chunk (a trailing partial frame is ignored). */
  readonly frames: number;
}

/** Sample rates the speech function accepts, in Hz. */
export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 48000;
/** More channels than any real recording has: a header that claims more is not believed. */
const MAX_CHANNELS = 64;

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_ALAW = 0x0006;
const FORMAT_MULAW = 0x0007;
const FORMAT_EXTENSIBLE = 0xfffe;
/** The 14 bytes after the format code in every KSDATAFORMAT_SUBTYPE GUID. */
const SUBTYPE_GUID_TAIL = [
  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

const FORMAT_NAMES: Record<number, string> = {
  2: 'Microsoft ADPCM',
  17: 'IMA ADPCM',
  49: 'GSM 6.10',
  80: 'MPEG',
  85: 'MPEG Layer 3',
};

function fail(message: string): never {
  throw new UndecodableContentError(`WAV: ${message}`);
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Whether the bytes start like a RIFF file (or a variant we name in errors): the WAV parser's to judge. */
export function looksLikeRiff(head: Uint8Array): boolean {
  const riff = fourcc(head, 0);
  return riff === 'RIFF' || riff === 'RIFX' || riff === 'RF64';
}

interface FmtChunk {
  readonly encoding: WavEncoding;
  readonly channels: number;
  readonly sampleRate: number;
  readonly blockAlign: number;
  readonly bitsPerSample: number;
}

function parseFmt(bytes: Uint8Array): FmtChunk {
  if (bytes.byteLength < 16) fail(`the fmt chunk has ${bytes.byteLength} bytes, needs at least 16`);
  const v = view(bytes);
  let tag = v.getUint16(0, true);
  const channels = v.getUint16(2, true);
  const sampleRate = v.getUint32(4, true);
  const blockAlign = v.getUint16(12, true);
  const bitsPerSample = v.getUint16(14, true);
  if (tag === FORMAT_EXTENSIBLE) {
    if (bytes.byteLength < 40 || v.getUint16(16, true) < 22)
      fail('WAVE_FORMAT_EXTENSIBLE fmt chunk is too short');
    const validBits = v.getUint16(18, true);
    if (validBits > bitsPerSample) fail(`${validBits} valid bits in a ${bitsPerSample}-bit container`);
    if (!SUBTYPE_GUID_TAIL.every((b, i) => bytes[26 + i] === b))
      fail('unknown WAVE_FORMAT_EXTENSIBLE subtype');
    tag = v.getUint16(24, true);
  }
  let encoding: WavEncoding;
  if (tag === FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bitsPerSample)) fail(`${bitsPerSample}-bit integer PCM is not supported`);
    encoding = 'pcm';
  } else if (tag === FORMAT_FLOAT) {
    if (bitsPerSample !== 32 && bitsPerSample !== 64) fail(`${bitsPerSample}-bit float is not supported`);
    encoding = 'float';
  } else if (tag === FORMAT_ALAW || tag === FORMAT_MULAW) {
    if (bitsPerSample !== 8) fail(`G.711 with ${bitsPerSample} bits per sample`);
    encoding = tag === FORMAT_ALAW ? 'alaw' : 'mulaw';
  } else {
    const name = FORMAT_NAMES[tag] ?? 'unknown';
    fail(`format tag 0x${tag.toString(16).padStart(4, '0')} (${name}) is not supported; send PCM or float`);
  }
  if (channels < 1 || channels > MAX_CHANNELS) fail(`${channels} channels`);
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    fail(`sample rate ${sampleRate} Hz is outside ${MIN_SAMPLE_RATE}-${MAX_SAMPLE_RATE} Hz`);
  }
  if (blockAlign !== (channels * bitsPerSample) / 8) {
    fail(`block align ${blockAlign} does not match ${channels} channels of ${bitsPerSample} bits`);
  }
  return { encoding, channels, sampleRate, blockAlign, bitsPerSample };
}

/**
 * Reads and checks the header of a RIFF/WAVE file: every chunk must lie inside the file and inside the
 * size the RIFF header declares, `fmt ` must come before `data`, and `data` must hold at least one frame.
 * Nothing is read past the end of the source.
 *
 * @throws {UndecodableContentError} on anything else, with a message that says what is wrong.
 */
export function parseWavHeader(source: ByteSource): WavFormat {
  if (source.size < 12) fail(`${source.size} bytes is too short for a RIFF header`);
  const head = source.read(0, 12);
  const riff = fourcc(head, 0);
  if (riff === 'RIFX') fail('big-endian RIFX files are not supported');
  if (riff === 'RF64') fail('RF64 files are not supported');
  if (riff !== 'RIFF' || fourcc(head, 8) !== 'WAVE') fail('not a RIFF/WAVE file');
  const riffSize = view(head).getUint32(4, true);
  // Some writers count a final pad byte they never write; allow that one byte, nothing more.
  if (8 + riffSize > source.size + 1) {
    fail(`the RIFF header declares ${8 + riffSize} bytes but the file has ${source.size} (truncated?)`);
  }
  if (riffSize < 4) fail(`RIFF size ${riffSize} is too small`);
  const end = Math.min(source.size, 8 + riffSize);

  let fmt: FmtChunk | undefined;
  for (let at = 12; at + 8 <= end; ) {
    const header = source.read(at, 8);
    const id = fourcc(header, 0);
    const size = view(header).getUint32(4, true);
    const body = at + 8;
    if (id === 'data') {
      if (!fmt) fail('the data chunk comes before the fmt chunk');
      if (size === 0) fail('the data chunk is empty');
      if (body + size > end) {
        fail(`the data chunk declares ${size} bytes but only ${end - body} follow (truncated?)`);
      }
      const frames = Math.floor(size / fmt.blockAlign);
      if (frames === 0) fail(`the data chunk holds ${size} bytes, less than one frame`);
      return { ...fmt, dataOffset: body, frames };
    }
    if (body + size > end)
      fail(`chunk "${printable(id)}" declares ${size} bytes but only ${end - body} follow`);
    if (id === 'fmt ') {
      if (fmt) fail('two fmt chunks');
      fmt = parseFmt(source.read(body, Math.min(size, 64)).slice());
    }
    at = body + size + (size % 2);
  }
  fail(fmt ? 'no data chunk' : 'no fmt chunk');
}

function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?');
}

const ALAW = new Float32Array(256);
const MULAW = new Float32Array(256);
for (let i = 0; i < 256; i++) {
  // ITU-T G.711, as in the reference decoders: A-law inverts even bits, mu-law inverts all bits.
  let a = i ^ 0x55;
  const aExp = (a & 0x70) >> 4;
  let aMag = (a & 0x0f) << 4;
  aMag = aExp === 0 ? aMag + 8 : (aMag + 0x108) << (aExp - 1);
  a = a & 0x80 ? aMag : -aMag;
  ALAW[i] = a / 32768;
  const u = ~i & 0xff;
  const uMag = ((((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)) - 0x84;
  MULAW[i] = (u & 0x80 ? -uMag : uMag) / 32768;
}

/** Frames converted per block: bounded whatever the channel count, large enough to amortise the reads. */
const BLOCK_BYTES = 64 * 1024;

/**
 * The samples of a checked WAV file as a mono {@link SampleSource} at the file's own rate: channels are
 * averaged, integers scaled to [-1, 1). The file is read a block at a time, so memory stays bounded.
 */
export function wavSampleSource(source: ByteSource, format: WavFormat): SampleSource {
  const { channels, blockAlign, frames, sampleRate } = format;
  const framesPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / blockAlign));
  const convert = converter(format);
  let frame = 0;
  return {
    sampleRate,
    length: frames,
    read(target, offset, count) {
      let written = 0;
      while (written < count && frame < frames) {
        const n = Math.min(count - written, framesPerBlock, frames - frame);
        const bytes = source.read(format.dataOffset + frame * blockAlign, n * blockAlign);
        if (bytes.byteLength < n * blockAlign) fail('the file ended inside the data chunk');
        convert(view(bytes), n, channels, target, offset + written);
        written += n;
        frame += n;
      }
      return written;
    },
  };
}

type Convert = (v: DataView, frames: number, channels: number, out: Float32Array, at: number) => void;

/**
 * A NaN or infinite float sample would flow through resampling into the model and come out as a NaN
 * probability (`null` in JSON): such a file is refused instead. One check a frame, on the channels' mix.
 */
function notFinite(): never {
  fail('a float sample is not a finite number (NaN or infinity)');
}

/** One loop per storage format, so the per-sample path has no branch on the format. */
function converter(format: WavFormat): Convert {
  const { encoding, bitsPerSample } = format;
  if (encoding === 'float' && bitsPerSample === 32) {
    return (v, frames, channels, out, at) => {
      for (let f = 0, p = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++, p += 4) sum += v.getFloat32(p, true);
        if (!Number.isFinite(sum)) notFinite();
        out[at + f] = sum / channels;
      }
    };
  }
  if (encoding === 'float') {
    return (v, frames, channels, out, at) => {
      for (let f = 0, p = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++, p += 8) sum += v.getFloat64(p, true);
        // A finite double beyond float32's range would still become infinity in the output.
        const sample = Math.fround(sum / channels);
        if (!Number.isFinite(sample)) notFinite();
        out[at + f] = sample;
      }
    };
  }
  if (encoding === 'alaw' || encoding === 'mulaw') {
    const table = encoding === 'alaw' ? ALAW : MULAW;
    return (v, frames, channels, out, at) => {
      for (let f = 0, p = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++, p++) sum += table[v.getUint8(p)] as number;
        out[at + f] = sum / channels;
      }
    };
  }
  switch (bitsPerSample) {
    case 8:
      // 8-bit WAV is unsigned, centred on 128.
      return (v, frames, channels, out, at) => {
        const scale = 1 / (128 * channels);
        for (let f = 0, p = 0; f < frames; f++) {
          let sum = 0;
          for (let c = 0; c < channels; c++, p++) sum += v.getUint8(p) - 128;
          out[at + f] = sum * scale;
        }
      };
    case 16:
      return (v, frames, channels, out, at) => {
        const scale = 1 / (32768 * channels);
        for (let f = 0, p = 0; f < frames; f++) {
          let sum = 0;
          for (let c = 0; c < channels; c++, p += 2) sum += v.getInt16(p, true);
          out[at + f] = sum * scale;
        }
      };
    case 24:
      return (v, frames, channels, out, at) => {
        const scale = 1 / (8388608 * channels);
        for (let f = 0, p = 0; f < frames; f++) {
          let sum = 0;
          for (let c = 0; c < channels; c++, p += 3) sum += v.getUint16(p, true) | (v.getInt8(p + 2) << 16);
          out[at + f] = sum * scale;
        }
      };
    default:
      return (v, frames, channels, out, at) => {
        const scale = 1 / (2147483648 * channels);
        for (let f = 0, p = 0; f < frames; f++) {
          let sum = 0;
          for (let c = 0; c < channels; c++, p += 4) sum += v.getInt32(p, true);
          out[at + f] = sum * scale;
        }
      };
  }
}
