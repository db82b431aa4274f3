import { UndecodableContentError, UnsupportedMediaTypeError } from '../core/errors.ts';
import { type ByteSource, memoryByteSource } from './byte-source.ts';
import { type CompressedFormat, openCompressedAudio } from './decode-compressed.ts';
import { looksLikeRiff, parseWavHeader, wavSampleSource } from './decode-wav.ts';
import { endsInsideFrame, findMpegAudioStart, parseMpegFrameHeader } from './mpeg-audio-frames.ts';
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

/** Media types the speech function takes as a raw body (one list, shared with the task descriptors). */
export { AUDIO_MEDIA_TYPES } from '../core/tasks/media-types.ts';

function startsWith(bytes: Uint8Array, text: string, at = 0): boolean {
  if (bytes.byteLength < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
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
  if (startsWith(head, 'ID3') || parseMpegFrameHeader(head)) return { format: 'mp3' };
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
 * memory; FLAC, MP3, Ogg Opus and Ogg Vorbis are decoded a chunk at a time as the samples are read. An
 * MP3 must start (after its ID3 tags) with two consecutive valid frames and must not end inside a frame,
 * or it is refused unread.
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
  if (format === 'mp3') {
    // The MP3 decoder resynchronises on any sync pattern, so it would "decode" garbage: prove frames first.
    const start = findMpegAudioStart(source);
    if (typeof start === 'string') throw new UndecodableContentError(`MP3: ${start}`);
    if (endsInsideFrame(source, start)) {
      throw new UndecodableContentError('MP3: the file ends inside a frame (truncated?)');
    }
    return { format, ...(await openCompressedAudio(skipBytes(source, start.offset), format)) };
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

/** The bytes of `source` from `offset` on, so the decoder starts at a proven frame, past tags and padding. */
function skipBytes(source: ByteSource, offset: number): ByteSource {
  if (offset === 0) return source;
  return {
    size: source.size - offset,
    read: (at, length) => source.read(offset + at, length),
  };
}
