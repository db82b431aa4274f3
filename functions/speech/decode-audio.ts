import { UndecodableContentError, UnsupportedMediaTypeError } from '../core/errors.ts';
import { type ByteSource, memoryByteSource } from './byte-source.ts';
import { type CompressedFormat, openCompressedAudio } from './decode-compressed.ts';
import { looksLikeRiff, parseWavHeader, wavSampleSource } from './decode-wav.ts';
import type { SampleSource } from './sample-source.ts';

/** The container and codec of an audio file. */
export type AudioFormat = 'wav' | CompressedFormat;

/** An audio file checked (WAV) or opened (compressed), ready to stream. */
export interface DecodedAudio {
  readonly format: AudioFormat;
  readonly channels: number;
  /** The file's own rate, in Hz. */
  readonly sampleRate: number;
  /** The audio down-mixed to mono at the file's rate, streamed. */
  readonly samples: SampleSource;
  /** Releases a compressed stream's decoder if the samples are not read to the end. */
  close(): void;
}

/** Media types the speech function takes as a raw body. */
export const AUDIO_MEDIA_TYPES = [
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/vnd.wave',
  'audio/flac',
  'audio/x-flac',
  'audio/mpeg',
  'audio/mp3',
  'audio/ogg',
  'audio/opus',
] as const;

function startsWith(bytes: Uint8Array, text: string, at = 0): boolean {
  if (bytes.byteLength < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** An MPEG audio frame header: 11 sync bits, a layer, and neither a reserved version nor bitrate 15. */
function isMpegFrame(b: Uint8Array): boolean {
  const [b0 = 0, b1 = 0, b2 = 0] = b;
  return b0 === 0xff && (b1 & 0xe0) === 0xe0 && (b1 & 0x18) !== 0x08 && (b1 & 0x06) !== 0 && b2 >> 4 !== 0x0f;
}

/** The codec of an Ogg stream, from the first packet of its first page. */
function oggCodec(head: Uint8Array): CompressedFormat | string {
  const segments = head[26] ?? 0;
  const packet = 27 + segments;
  if (startsWith(head, 'OpusHead', packet)) return 'opus';
  if (head[packet] === 0x01 && startsWith(head, 'vorbis', packet + 1)) return 'vorbis';
  if (startsWith(head, '\x7fFLAC', packet)) return 'Ogg FLAC';
  if (startsWith(head, 'Speex', packet)) return 'Ogg Speex';
  return 'Ogg with an unknown codec';
}

/** The format the bytes announce, or the name of a recognisable one we do not decode. */
function sniff(head: Uint8Array): { format?: AudioFormat; other?: string } {
  if (looksLikeRiff(head)) return { format: 'wav' };
  if (startsWith(head, 'fLaC')) return { format: 'flac' };
  if (startsWith(head, 'OggS')) {
    const codec = oggCodec(head);
    return codec === 'opus' || codec === 'vorbis' ? { format: codec } : { other: codec };
  }
  if (startsWith(head, 'ID3') || isMpegFrame(head)) return { format: 'mp3' };
  if (startsWith(head, 'FORM') && (startsWith(head, 'AIFF', 8) || startsWith(head, 'AIFC', 8)))
    return { other: 'AIFF' };
  if (startsWith(head, 'ftyp', 4)) return { other: 'MP4/M4A' };
  if (startsWith(head, '#!AMR')) return { other: 'AMR' };
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3)
    return { other: 'WebM/Matroska' };
  return {};
}

/**
 * Recognises an audio file by its first bytes and returns it ready to stream as mono samples. WAV is
 * checked header first and read lazily from the source, so a long recording on disk is never held in
 * memory; FLAC, MP3, Ogg Opus and Ogg Vorbis are decoded a chunk at a time as the samples are read.
 *
 * @throws {UnsupportedMediaTypeError} a recognisable audio format that is not supported (415).
 * @throws {UndecodableContentError} anything that is not a well-formed supported file (422).
 *
 * @example
 * ```ts
 * const audio = await decodeAudio(requestBytes);
 * const result = await vad.detect(audio.samples);
 * ```
 */
export async function decodeAudio(input: Uint8Array | ByteSource): Promise<DecodedAudio> {
  const source = input instanceof Uint8Array ? memoryByteSource(input) : input;
  const head = source.read(0, 512).slice();
  const { format, other } = sniff(head);
  if (format === 'wav') {
    const wav = parseWavHeader(source);
    return {
      format,
      channels: wav.channels,
      sampleRate: wav.sampleRate,
      samples: wavSampleSource(source, wav),
      close: () => undefined,
    };
  }
  if (format) return { format, ...(await openCompressedAudio(source, format)) };
  if (other) {
    throw new UnsupportedMediaTypeError(
      `${other} audio is not supported; send WAV, FLAC, MP3, Ogg Opus or Ogg Vorbis`,
    );
  }
  throw new UndecodableContentError(
    'not an audio file this service reads (WAV, FLAC, MP3, Ogg Opus, Ogg Vorbis)',
  );
}
