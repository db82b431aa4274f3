import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { OggVorbisDecoder } from '@wasm-audio-decoders/ogg-vorbis';
import { MPEGDecoder } from 'mpg123-decoder';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { UndecodableContentError } from '../core/errors.ts';
import { captureConsoleOf } from '../core/log.ts';
import type { ByteSource } from './byte-source.ts';
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from './decode-wav.ts';
import type { SampleSource } from './sample-source.ts';

// The decoders print each frame they cannot decode on the console (mpg123: "mpg123-decoder: -1 MPG123_ERR",
// dozens of lines for one damaged file), outside the JSON logs; the same texts come back in each piece's
// `errors`, which is what the 422 quotes. Their lines become debug-level log lines.
captureConsoleOf('audio decoder', [
  'mpg123-decoder: ',
  '@wasm-audio-decoders/flac: ',
  'libopus ',
  'ogg-opus-decoder: ',
]);

/** Compressed formats decoded with the WebAssembly decoders of wasm-audio-decoders. */
export type CompressedFormat = 'flac' | 'mp3' | 'opus' | 'vorbis';

/** What every one of those decoders returns for a piece of input. */
interface DecodedPiece {
  readonly channelData: Float32Array[];
  readonly samplesDecoded: number;
  readonly sampleRate: number;
  readonly errors: readonly { readonly message: string }[];
}

/** The common shape of the decoders; some decode synchronously, some return promises. */
interface StreamDecoder {
  readonly ready: Promise<void>;
  decode(data: Uint8Array): DecodedPiece | Promise<DecodedPiece>;
  flush?(): Promise<DecodedPiece>;
  free(): void;
}

const NAMES: Record<CompressedFormat, string> = {
  flac: 'FLAC',
  mp3: 'MP3',
  opus: 'Ogg Opus',
  vorbis: 'Ogg Vorbis',
};

function newDecoder(format: CompressedFormat): StreamDecoder {
  switch (format) {
    case 'flac':
      return new FLACDecoder();
    case 'mp3':
      return new MPEGDecoder();
    case 'opus':
      return new OggOpusDecoder();
    case 'vorbis':
      return new OggVorbisDecoder();
  }
}

/** Compressed bytes handed to the decoder at a time: a few hundred milliseconds of audio. */
const INPUT_CHUNK = 16 * 1024;

function fail(format: CompressedFormat, message: string): never {
  throw new UndecodableContentError(`${NAMES[format]}: ${message}`);
}

/**
 * A compressed stream decoded a chunk at a time, as {@link SampleSource.prefetch} asks, and down-mixed to
 * mono: only the decoded audio not yet read is held. Its length is known once the input is exhausted.
 */
class DecodingSource implements SampleSource {
  length = Number.POSITIVE_INFINITY;
  private buffer = new Float32Array(1 << 15);
  private start = 0;
  private end = 0;
  private input = 0;
  private finished = false;
  private decoded = 0;

  constructor(
    private readonly format: CompressedFormat,
    private readonly source: ByteSource,
    private readonly decoder: StreamDecoder,
    readonly sampleRate: number,
    readonly channels: number,
  ) {}

  /** Decodes until the first audio arrives; returns that piece's rate and channel count. */
  static async open(format: CompressedFormat, source: ByteSource): Promise<DecodingSource> {
    const decoder = newDecoder(format);
    await decoder.ready;
    try {
      let at = 0;
      const errors: string[] = [];
      for (;;) {
        const last = at >= source.size;
        const piece = last
          ? await (decoder.flush?.() ?? emptyPiece())
          : await decoder.decode(source.read(at, INPUT_CHUNK).slice());
        errors.push(...piece.errors.map((e) => e.message));
        at = Math.min(source.size, at + INPUT_CHUNK);
        if (piece.samplesDecoded > 0) {
          if (piece.sampleRate < MIN_SAMPLE_RATE || piece.sampleRate > MAX_SAMPLE_RATE) {
            fail(
              format,
              `sample rate ${piece.sampleRate} Hz is outside ${MIN_SAMPLE_RATE}-${MAX_SAMPLE_RATE} Hz`,
            );
          }
          const stream = new DecodingSource(
            format,
            source,
            decoder,
            piece.sampleRate,
            piece.channelData.length,
          );
          stream.input = at;
          stream.finished = last;
          stream.append(piece);
          if (last) {
            stream.length = stream.decoded;
            decoder.free();
          }
          return stream;
        }
        if (last) fail(format, errors.length ? `no audio decoded (${errors[0]})` : 'no audio in the file');
      }
    } catch (error) {
      decoder.free();
      throw error;
    }
  }

  async prefetch(count: number): Promise<void> {
    while (this.end - this.start < count && !this.finished) {
      if (this.input < this.source.size) {
        const chunk = this.source.read(this.input, INPUT_CHUNK).slice();
        this.input += chunk.byteLength;
        this.append(await this.decoder.decode(chunk));
      } else {
        if (this.decoder.flush) this.append(await this.decoder.flush());
        this.finished = true;
        this.length = this.decoded;
        this.decoder.free();
      }
    }
  }

  read(target: Float32Array, offset: number, count: number): number {
    const n = Math.min(count, this.end - this.start);
    if (n === 0 && !this.finished && count > 0) throw new Error('read past what was prefetched');
    target.set(this.buffer.subarray(this.start, this.start + n), offset);
    this.start += n;
    return n;
  }

  /** Frees the decoder if the stream is abandoned before its end. */
  close(): void {
    if (!this.finished) {
      this.finished = true;
      this.decoder.free();
    }
  }

  private append(piece: DecodedPiece): void {
    const n = piece.samplesDecoded;
    if (n === 0) return;
    if (piece.sampleRate !== this.sampleRate) fail(this.format, 'the sample rate changes inside the stream');
    if (this.end + n > this.buffer.length) {
      const kept = this.end - this.start;
      if (kept + n > this.buffer.length) {
        const grown = new Float32Array(Math.max(this.buffer.length * 2, kept + n));
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      } else {
        this.buffer.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = kept;
    }
    const channels = piece.channelData;
    const out = this.buffer;
    const at = this.end;
    if (channels.length === 1) {
      out.set((channels[0] as Float32Array).subarray(0, n), at);
    } else {
      out.fill(0, at, at + n);
      for (const channel of channels)
        for (let i = 0; i < n; i++) (out[at + i] as number) += channel[i] as number;
      const scale = 1 / channels.length;
      for (let i = 0; i < n; i++) (out[at + i] as number) *= scale;
    }
    this.end += n;
    this.decoded += n;
  }
}

function emptyPiece(): DecodedPiece {
  return { channelData: [], samplesDecoded: 0, sampleRate: 0, errors: [] };
}

/** A decoded compressed stream: its first piece's rate and channels, and the mono samples, streamed. */
export interface CompressedAudio {
  readonly sampleRate: number;
  readonly channels: number;
  readonly samples: SampleSource;
  /** Frees the decoder early (it frees itself at the end of the stream). */
  close(): void;
}

/**
 * Opens a FLAC, MP3, Ogg Opus or Ogg Vorbis stream and decodes its first audio.
 *
 * @throws {UndecodableContentError} when no audio decodes, or the rate is outside 8-48 kHz.
 */
export async function openCompressedAudio(
  source: ByteSource,
  format: CompressedFormat,
): Promise<CompressedAudio> {
  const stream = await DecodingSource.open(format, source);
  return {
    sampleRate: stream.sampleRate,
    channels: stream.channels,
    samples: stream,
    close: () => stream.close(),
  };
}
