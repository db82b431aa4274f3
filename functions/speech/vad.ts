import * as ort from 'onnxruntime-node';
import { resample } from './resample.ts';
import type { SampleSource } from './sample-source.ts';
import { type SegmentationOptions, SpeechSegmenter, segmentationOptions } from './speech-segments.ts';

/** A stretch of speech, in seconds from the start of the file. */
export interface SpeechSegment {
  readonly start: number;
  readonly end: number;
  /** Mean speech probability over the segment's windows (before padding). */
  readonly confidence: number;
}

/** What voice activity detection finds in one file. */
export interface VadResult {
  /** Seconds of audio. */
  readonly duration: number;
  /** The rate of the audio as given, in Hz. */
  readonly sampleRate: number;
  /** The rate the model ran at: 16000, or 8000 for 8 kHz audio where the model has that mode. */
  readonly modelSampleRate: number;
  readonly segments: SpeechSegment[];
  /** Share of the duration inside segments, 0 to 1. */
  readonly speechRatio: number;
}

/** Milliseconds spent per stage, summed over a call (stages interleave while streaming). */
export interface VadStageTimes {
  /** Decoding compressed audio as it streams (WAV needs none). */
  decode: number;
  /** Reading samples: PCM conversion, down-mixing and resampling. */
  preprocess: number;
  /** onnxruntime. */
  inference: number;
  /** Feeding probabilities to the segmenters and compacting the batch. */
  postprocess: number;
}

/** Window and context sizes of Silero v5 at each of its rates. */
const WINDOW: Readonly<Record<number, number>> = { 16000: 512, 8000: 256 };
const CONTEXT: Readonly<Record<number, number>> = { 16000: 64, 8000: 32 };
/** Width of the LSTM state per stream: `state` is `[2, batch, 128]`. */
const STATE_WIDTH = 128;

interface Stream {
  readonly index: number;
  readonly original: SampleSource;
  readonly source: SampleSource;
  readonly segmenter: SpeechSegmenter;
  samples: number;
  last: boolean;
  empty: boolean;
}

/**
 * Silero VAD v5 over one inference session: each file is streamed through the model in windows of 512
 * samples at 16 kHz (256 at 8 kHz), each window preceded by the last 64 (32) samples of the one before,
 * with the recurrent state carried across the whole file. Several files share each `session.run` as rows
 * of one batch; a file that ends leaves the batch. Buffers are allocated once per call, not per window.
 *
 * @example
 * ```ts
 * const vad = new SileroVad(loaded.session, { sampleRates: [8000, 16000] });
 * const [result] = await vad.detectBatch([decodeAudio(bytes).samples], { minSilenceDurationMs: 300 });
 * ```
 */
export class SileroVad {
  private readonly sampleRates: readonly number[];
  private readonly hasRateInput: boolean;

  /**
   * @param session - a Silero v5 session: `input` [B, context + window], `state` [2, B, 128] and, for the
   *   model with both rates, `sr` (int64 scalar); outputs `output` [B, 1] and `stateN`.
   * @param options.sampleRates - the rates the model was trained for: `[8000, 16000]` or `[16000]`.
   */
  constructor(
    private readonly session: ort.InferenceSession,
    options: { sampleRates: readonly number[] },
  ) {
    const missing = ['input', 'state'].filter((n) => !session.inputNames.includes(n));
    missing.push(...['output', 'stateN'].filter((n) => !session.outputNames.includes(n)));
    if (missing.length) throw new Error(`not a Silero v5 model: no ${missing.join(', ')}`);
    this.sampleRates = options.sampleRates.filter((r) => r in WINDOW);
    if (!this.sampleRates.includes(16000)) throw new Error('a Silero model must support 16000 Hz');
    this.hasRateInput = session.inputNames.includes('sr');
  }

  /** The rate audio at `sampleRate` is analysed at: 8 kHz stays 8 kHz where the model has that mode. */
  modelRateFor(sampleRate: number): number {
    return sampleRate <= 8000 && this.sampleRates.includes(8000) ? 8000 : 16000;
  }

  /** Finds speech in one file. */
  async detect(
    audio: SampleSource,
    options: Partial<SegmentationOptions> = {},
    times?: VadStageTimes,
  ): Promise<VadResult> {
    const [result] = await this.detectBatch([audio], options, times);
    return result as VadResult;
  }

  /**
   * Finds speech in several files at once: files analysed at the same rate share batched model calls.
   *
   * @param audios - mono sources at any rate; resampled as they stream.
   * @param times - if given, stage times of this call are added to it.
   * @returns one result per file, in order.
   */
  async detectBatch(
    audios: readonly SampleSource[],
    options: Partial<SegmentationOptions> = {},
    times: VadStageTimes = { decode: 0, preprocess: 0, inference: 0, postprocess: 0 },
  ): Promise<VadResult[]> {
    const settings = segmentationOptions(options);
    const groups = new Map<number, Stream[]>();
    audios.forEach((original, index) => {
      const rate = this.modelRateFor(original.sampleRate);
      const stream: Stream = {
        index,
        original,
        source: resample(original, rate),
        segmenter: new SpeechSegmenter(WINDOW[rate] as number, rate, settings),
        samples: 0,
        last: false,
        empty: false,
      };
      groups.set(rate, [...(groups.get(rate) ?? []), stream]);
    });
    const results: VadResult[] = new Array(audios.length);
    for (const [rate, streams] of groups) {
      await this.runBatch(rate, streams, times);
      for (const stream of streams) results[stream.index] = this.result(stream, rate);
    }
    return results;
  }

  private async runBatch(rate: number, streams: Stream[], times: VadStageTimes): Promise<void> {
    const window = WINDOW[rate] as number;
    const context = CONTEXT[rate] as number;
    const width = context + window;
    let active = streams;
    let batch = active.length;
    let input = new Float32Array(batch * width);
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', input, [batch, width]),
      state: new ort.Tensor('float32', new Float32Array(2 * batch * STATE_WIDTH), [2, batch, STATE_WIDTH]),
    };
    if (this.hasRateInput) feeds.sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(rate)), []);

    while (batch > 0) {
      let t0 = performance.now();
      let ended = 0;
      for (let b = 0; b < batch; b++) {
        const stream = active[b] as Stream;
        const row = b * width;
        // The tail of the previous window becomes this window's context.
        input.copyWithin(row, row + window, row + width);
        if (stream.source.prefetch) {
          // Compressed audio decodes as it is read; that is decoding, not model time.
          const t = performance.now();
          await stream.source.prefetch(window);
          t0 += performance.now() - t;
          times.decode += performance.now() - t;
        }
        let got = 0;
        while (got < window) {
          const n = stream.source.read(input, row + context + got, window - got);
          if (n === 0) break;
          got += n;
        }
        if (got < window) input.fill(0, row + context + got, row + width);
        stream.samples += got;
        // A stream of unknown length may turn out to have ended exactly at the last window.
        stream.empty = got === 0;
        if (got < window || stream.samples >= stream.source.length) {
          stream.last = true;
          ended++;
        }
      }
      const t1 = performance.now();
      const outputs = await this.session.run(feeds);
      const t2 = performance.now();
      const probabilities = outputs.output?.data as Float32Array;
      const state = outputs.stateN as ort.Tensor;
      for (let b = 0; b < batch; b++) {
        const stream = active[b] as Stream;
        if (!stream.empty) stream.segmenter.push(probabilities[b] as number);
      }
      if (ended === 0) {
        feeds.state = state;
      } else {
        // Rows of finished files leave the batch: keep the others' windows (their context) and state.
        const keep = active.map((s, b) => (s.last ? -1 : b)).filter((b) => b >= 0);
        const next = keep.length;
        const nextInput = new Float32Array(next * width);
        const oldState = state.data as Float32Array;
        const nextState = new Float32Array(2 * next * STATE_WIDTH);
        keep.forEach((b, k) => {
          nextInput.set(input.subarray(b * width, (b + 1) * width), k * width);
          for (let layer = 0; layer < 2; layer++) {
            const from = (layer * batch + b) * STATE_WIDTH;
            nextState.set(oldState.subarray(from, from + STATE_WIDTH), (layer * next + k) * STATE_WIDTH);
          }
        });
        active = keep.map((b) => active[b] as Stream);
        batch = next;
        input = nextInput;
        feeds.input = new ort.Tensor('float32', input, [batch, width]);
        feeds.state = new ort.Tensor('float32', nextState, [2, batch, STATE_WIDTH]);
      }
      const t3 = performance.now();
      times.preprocess += t1 - t0;
      times.inference += t2 - t1;
      times.postprocess += t3 - t2;
    }
  }

  private result(stream: Stream, rate: number): VadResult {
    const { original } = stream;
    // A compressed source knows its length once read to the end; the model-rate count is the fallback.
    const duration = Number.isFinite(original.length)
      ? original.length / original.sampleRate
      : stream.samples / rate;
    const seconds = (samples: number) => Math.min(duration, samples / rate);
    const segments = stream.segmenter.finish(stream.samples).map((s) => ({
      start: round(seconds(s.start), 3),
      end: round(seconds(s.end), 3),
      confidence: round(s.confidence, 3),
    }));
    const speech = segments.reduce((sum, s) => sum + (s.end - s.start), 0);
    return {
      duration: round(duration, 3),
      sampleRate: original.sampleRate,
      modelSampleRate: rate,
      segments,
      speechRatio: round(Math.min(1, speech / duration), 4),
    };
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
