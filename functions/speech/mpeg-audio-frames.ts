import type { ByteSource } from './byte-source.ts';

/** What an MPEG audio frame header (ISO 11172-3 / 13818-3, and the unofficial MPEG 2.5) says. */
export interface MpegFrameHeader {
  /** 1 for MPEG-1, 2 for MPEG-2, 2.5 for MPEG-2.5. */
  readonly version: 1 | 2 | 2.5;
  readonly layer: 1 | 2 | 3;
  /** In bits a second. */
  readonly bitrate: number;
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  /** The whole frame, header included, in bytes. */
  readonly length: number;
}

/** Bitrates in kb/s by bitrate index 1-14, for [MPEG-1 layer I, II, III, MPEG-2/2.5 layer I, II and III]. */
const BITRATES = [
  [32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  [32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
] as const;

const SAMPLE_RATES = {
  1: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  2.5: [11025, 12000, 8000],
} as const;

/**
 * Parses the four bytes of an MPEG audio frame header, or answers `undefined` when they are not one: no
 * 11-bit sync, a reserved version, layer, sample rate or emphasis, a "bad" bitrate, or free format (bitrate
 * index 0, whose frame length cannot be known from the header, and which the decoders rarely meet).
 */
export function parseMpegFrameHeader(b: Uint8Array, at = 0): MpegFrameHeader | undefined {
  if (b.byteLength < at + 4) return undefined;
  const b1 = b[at + 1] as number;
  const b2 = b[at + 2] as number;
  const b3 = b[at + 3] as number;
  if (b[at] !== 0xff || (b1 & 0xe0) !== 0xe0) return undefined;
  const versionBits = (b1 >> 3) & 3;
  const layerBits = (b1 >> 1) & 3;
  const bitrateIndex = b2 >> 4;
  const rateIndex = (b2 >> 2) & 3;
  if (versionBits === 1 || layerBits === 0 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3)
    return undefined;
  if ((b3 & 3) === 2) return undefined;
  const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const layer = (4 - layerBits) as 1 | 2 | 3;
  const table = version === 1 ? layer - 1 : layer === 1 ? 3 : 4;
  const bitrate = (BITRATES[table]?.[bitrateIndex - 1] ?? 0) * 1000;
  const sampleRate = SAMPLE_RATES[version][rateIndex] as number;
  const padding = (b2 >> 1) & 1;
  const length =
    layer === 1
      ? (Math.floor((12 * bitrate) / sampleRate) + padding) * 4
      : Math.floor(((layer === 3 && version !== 1 ? 72 : 144) * bitrate) / sampleRate) + padding;
  return { version, layer, bitrate, sampleRate, channels: b3 >> 6 === 3 ? 1 : 2, length };
}

/** The size of the ID3v2 tag that starts at `at` (header, body and footer), or 0 when none starts there. */
function id3v2Length(b: Uint8Array, at: number): number {
  if (b.byteLength < at + 10 || b[at] !== 0x49 || b[at + 1] !== 0x44 || b[at + 2] !== 0x33) return 0;
  const [major = 0xff, minor = 0xff, flags = 0] = b.subarray(at + 3, at + 6);
  const size = b.subarray(at + 6, at + 10);
  if (major === 0xff || minor === 0xff || size.some((x) => x >= 0x80)) return 0;
  // The size is "syncsafe": four 7-bit bytes, most significant first, not counting the 10-byte header.
  const body = size.reduce((n, x) => n * 128 + x, 0);
  return 10 + body + (flags & 0x10 ? 10 : 0);
}

/** How far past the ID3 tags the first frame may start: encoders and taggers leave a little padding. */
const SEARCH_WINDOW = 4096;

/** Where the audio of an MP3 begins, and what its first frame says. */
export interface MpegAudioStart {
  /** Byte offset of the first frame (after any ID3v2 tags). */
  readonly offset: number;
  readonly first: MpegFrameHeader;
}

/**
 * Finds the first MPEG audio frame of an MP3, after its ID3v2 tags (skipped by their declared sizes),
 * and proves it real: the frame must lie wholly within the file and be followed, exactly where its length
 * says, by a second header of the same version, layer and sample rate. In random bytes a valid-looking
 * header turns up about once in 7 000 positions; such a pair, about once in a billion.
 *
 * The decoder would otherwise resynchronise on any `0xFFE` it meets, so garbage behind an `ID3` tag
 * "decodes" to a fraction of a second of noise instead of being refused.
 *
 * @returns the start, or a sentence saying why there is none (for a 422).
 */
export function findMpegAudioStart(source: ByteSource): MpegAudioStart | string {
  let tags = 0;
  for (;;) {
    const length = id3v2Length(source.read(tags, 10), 0);
    if (length === 0) break;
    tags += length;
    if (tags >= source.size) return 'no audio after the ID3 tag';
  }
  const head = source.read(tags, SEARCH_WINDOW + 4).slice();
  let sawHeader = false;
  for (let at = 0; at + 4 <= head.byteLength; at++) {
    const first = parseMpegFrameHeader(head, at);
    if (!first) continue;
    sawHeader = true;
    const offset = tags + at;
    const next = parseMpegFrameHeader(source.read(offset + first.length, 4).slice());
    if (
      next &&
      next.version === first.version &&
      next.layer === first.layer &&
      next.sampleRate === first.sampleRate
    ) {
      return { offset, first };
    }
  }
  return sawHeader
    ? 'no two consecutive MPEG audio frames: the file is truncated or not MP3'
    : `no MPEG audio frame within ${SEARCH_WINDOW} bytes of the start${tags ? ' of the audio after the ID3 tag' : ''}`;
}

/** Bytes read at a time while walking the frames, so a recording on disk costs few reads. */
const WALK_BLOCK = 64 * 1024;

/**
 * Whether the file ends inside a frame: follows the chain of frames from `start`, each header where the
 * previous frame's length puts it, and answers `true` when a frame's declared length runs past the end of
 * the file, or when the last one to three bytes begin a header's sync. The walk stops, answering `false`,
 * at the first bytes that are not a header of the same stream (an ID3v1 or APE tag at the end, or junk the
 * decoder will skip), since the chain cannot be followed through them. A file cut exactly between two
 * frames cannot be told from a shorter recording.
 */
export function endsInsideFrame(source: ByteSource, start: MpegAudioStart): boolean {
  const { first } = start;
  let block: Uint8Array = new Uint8Array(0);
  let blockStart = 0;
  let at = start.offset;
  while (at + 4 <= source.size) {
    if (at + 4 > blockStart + block.byteLength) {
      block = source.read(at, WALK_BLOCK);
      blockStart = at;
    }
    const frame = parseMpegFrameHeader(block, at - blockStart);
    if (
      !frame ||
      frame.version !== first.version ||
      frame.layer !== first.layer ||
      frame.sampleRate !== first.sampleRate
    ) {
      return false;
    }
    if (at + frame.length > source.size) return true;
    at += frame.length;
  }
  // One to three bytes left: the file was cut inside the next header if they begin its sync.
  return at < source.size && source.read(at, 1)[0] === 0xff;
}
