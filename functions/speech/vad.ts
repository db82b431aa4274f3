import { batchingPays, DynamicBatcher, medianMs } from '../core/batching.ts';
import { readSetting } from '../core/config/env.ts';
import { ort } from '../core/onnx.ts';
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
/** Least saving per window for `auto` to merge calls' runs, in ms (see `decideSharing`). */
const AUTO_MIN_SAVED_MS = 0.02;

interface Stream {
  readonly index: number;
  readonly original: SampleSource;
  readonly source: SampleSource;
  readonly segmenter: SpeechSegmenter;
  /** This stream's model input: the context, then the new window. */
  readonly window: Float32Array;
  /** Its recurrent state, `[2, 128]` (one row per LSTM layer), carried from window to window. */
  readonly state: Float32Array;
  samples: number;
  last: boolean;
  empty: boolean;
}

/**
 * One stream's window in a model run: its input row and state in; its probability out, its next state
 * written over `state` (each stream awaits its run before its next window, so nothing else reads it).
 */
interface StepRow {
  readonly input: Float32Array;
  readonly state: Float32Array;
}

/**
 * The feeds of one runner (a call, or a batcher: one run at a time each), reused run after run while the
 * batch keeps its size: the rows are copied into their buffers, the tensors stay.
 */
interface RunBuffers {
  batch: number;
  input: Float32Array;
  state: Float32Array;
  feeds: Record<string, ort.Tensor>;
}

const newRunBuffers = (): RunBuffers => ({
  batch: 0,
  input: new Float32Array(0),
  state: new Float32Array(0),
  feeds: {},
});

/** `BATCHING`: merge the windows of concurrent calls into shared runs (`on`), never (`off`), or as measured. */
export type VadBatching = 'auto' | 'on' | 'off';

/** Options of {@link SileroVad}. */
export interface SileroVadOptions {
  /** The rates the model was trained for: `[8000, 16000]` or `[16000]`. */
  readonly sampleRates: readonly number[];
  /** Defaults to the `BATCHING` setting. */
  readonly batching?: VadBatching;
  /** Most streams in one run when calls are merged (the manifest's maxBatchSize); default 64. */
  readonly maxBatch?: number;
}

/**
 * Silero VAD v5 over one inference session: each file is streamed through the model in windows of 512
 * samples at 16 kHz (256 at 8 kHz), each window preceded by the last 64 (32) samples of the one before,
 * with the recurrent state carried across the whole file. Several files share each `session.run` as rows
 * of one batch; a file that ends leaves the batch. Where batching pays (`BATCHING`, measured at first use
 * by default), the windows of concurrent calls (requests) share runs too, through a {@link DynamicBatcher}
 * per rate: each call submits its streams' next windows and awaits their rows of the merged run.
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
  private readonly batching: VadBatching;
  private readonly maxBatch: number;
  /** Whether calls share runs, decided at first use; then one batcher per model rate. */
  private acrossCalls: Promise<boolean> | undefined;
  private readonly batchers = new Map<number, DynamicBatcher<StepRow, number>>();

  /**
   * @param session - a Silero v5 session: `input` [B, context + window], `state` [2, B, 128] and, for the
   *   model with both rates, `sr` (int64 scalar); outputs `output` [B, 1] and `stateN`.
   */
  constructor(
    private readonly session: ort.InferenceSession,
    options: SileroVadOptions,
  ) {
    const missing = ['input', 'state'].filter((n) => !session.inputNames.includes(n));
    missing.push(...['output', 'stateN'].filter((n) => !session.outputNames.includes(n)));
    if (missing.length) throw new Error(`not a Silero v5 model: no ${missing.join(', ')}`);
    this.sampleRates = options.sampleRates.filter((r) => r in WINDOW);
    if (!this.sampleRates.includes(16000)) throw new Error('a Silero model must support 16000 Hz');
    this.hasRateInput = session.inputNames.includes('sr');
    this.batching = options.batching ?? readSetting('BATCHING');
    this.maxBatch = options.maxBatch ?? 64;
  }

  /** The rate audio at `sampleRate` is analysed at: 8 kHz stays 8 kHz where the model has that mode. */
  modelRateFor(sampleRate: number): number {
    return sampleRate <= 8000 && this.sampleRates.includes(8000) ? 8000 : 16000;
  }

  /** Model runs made and windows run through the shared batchers so far, for tests and benchmarks. */
  get batchStats(): { runs: number; items: number } {
    let runs = 0;
    let items = 0;
    for (const batcher of this.batchers.values()) {
      runs += batcher.stats.runs;
      items += batcher.stats.items;
    }
    return { runs, items };
  }

  /** Whether concurrent calls share runs: as set, or (`auto`) as measured now (see {@link batchingPays}). */
  sharesRuns(): Promise<boolean> {
    this.acrossCalls ??= this.decideSharing();
    return this.acrossCalls;
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
    const shared = await this.sharesRuns();
    const groups = new Map<number, Stream[]>();
    audios.forEach((original, index) => {
      const rate = this.modelRateFor(original.sampleRate);
      const stream: Stream = {
        index,
        original,
        source: resample(original, rate),
        segmenter: new SpeechSegmenter(WINDOW[rate] as number, rate, settings),
        window: new Float32Array((CONTEXT[rate] as number) + (WINDOW[rate] as number)),
        state: new Float32Array(2 * STATE_WIDTH),
        samples: 0,
        last: false,
        empty: false,
      };
      groups.set(rate, [...(groups.get(rate) ?? []), stream]);
    });
    const results: VadResult[] = new Array(audios.length);
    for (const [rate, streams] of groups) {
      const buffers = newRunBuffers();
      const step = shared
        ? this.batcherFor(rate)
        : { submit: (rows: readonly StepRow[]) => this.runRows(rate, rows, buffers) };
      await this.stream(rate, streams, step, times);
      for (const stream of streams) results[stream.index] = this.result(stream, rate);
    }
    return results;
  }

  /** Streams `streams` to their ends, one window each per step, each step through `step`. */
  private async stream(
    rate: number,
    streams: Stream[],
    step: { submit(rows: readonly StepRow[]): Promise<number[]> },
    times: VadStageTimes,
  ): Promise<void> {
    const window = WINDOW[rate] as number;
    const context = CONTEXT[rate] as number;
    const width = context + window;
    let active = streams;
    while (active.length > 0) {
      let t0 = performance.now();
      for (const stream of active) {
        const input = stream.window;
        // The tail of the previous window becomes this window's context.
        input.copyWithin(0, window, width);
        if (stream.source.prefetch) {
          // Compressed audio decodes as it is read; that is decoding, not model time.
          const t = performance.now();
          await stream.source.prefetch(window);
          t0 += performance.now() - t;
          times.decode += performance.now() - t;
        }
        let got = 0;
        while (got < window) {
          const n = stream.source.read(input, context + got, window - got);
          if (n === 0) break;
          got += n;
        }
        if (got < window) input.fill(0, context + got, width);
        stream.samples += got;
        // A stream of unknown length may turn out to have ended exactly at the last window.
        stream.empty = got === 0;
        if (got < window || stream.samples >= stream.source.length) stream.last = true;
      }
      const t1 = performance.now();
      const probabilities = await step.submit(active.map((s) => ({ input: s.window, state: s.state })));
      const t2 = performance.now();
      active.forEach((stream, b) => {
        if (!stream.empty) stream.segmenter.push(probabilities[b] as number);
      });
      // Finished files leave the batch; the others keep their windows (their context) and state.
      active = active.filter((s) => !s.last);
      const t3 = performance.now();
      times.preprocess += t1 - t0;
      times.inference += t2 - t1;
      times.postprocess += t3 - t2;
    }
  }

  /**
   * One session run over `rows` (windows of streams at `rate`, of one call or several): their speech
   * probabilities, in order; each row's next state is written over its `state`.
   */
  private async runRows(rate: number, rows: readonly StepRow[], buffers: RunBuffers): Promise<number[]> {
    const batch = rows.length;
    const width = (CONTEXT[rate] as number) + (WINDOW[rate] as number);
    // Allocated once per runner and batch size, not per window: a window's run is only ~0.1 ms.
    if (buffers.batch !== batch) {
      buffers.batch = batch;
      buffers.input = new Float32Array(batch * width);
      buffers.state = new Float32Array(2 * batch * STATE_WIDTH);
      buffers.feeds = {
        input: new ort.Tensor('float32', buffers.input, [batch, width]),
        state: new ort.Tensor('float32', buffers.state, [2, batch, STATE_WIDTH]),
        ...(this.hasRateInput && { sr: this.rateTensor(rate) }),
      };
    }
    const { input, state, feeds } = buffers;
    rows.forEach((row, b) => {
      input.set(row.input, b * width);
      // `state` is [2, B, 128]: layer-major, so a stream's two rows lie apart.
      for (let layer = 0; layer < 2; layer++)
        state.set(
          row.state.subarray(layer * STATE_WIDTH, (layer + 1) * STATE_WIDTH),
          (layer * batch + b) * STATE_WIDTH,
        );
    });
    const outputs = await this.session.run(feeds);
    const probabilities = outputs.output?.data as Float32Array;
    const next = outputs.stateN?.data as Float32Array;
    return rows.map((row, b) => {
      for (let layer = 0; layer < 2; layer++)
        row.state.set(
          next.subarray((layer * batch + b) * STATE_WIDTH, (layer * batch + b + 1) * STATE_WIDTH),
          layer * STATE_WIDTH,
        );
      return probabilities[b] as number;
    });
  }

  private readonly rateTensors = new Map<number, ort.Tensor>();

  private rateTensor(rate: number): ort.Tensor {
    let tensor = this.rateTensors.get(rate);
    if (!tensor) {
      tensor = new ort.Tensor('int64', BigInt64Array.of(BigInt(rate)), []);
      this.rateTensors.set(rate, tensor);
    }
    return tensor;
  }

  private batcherFor(rate: number): DynamicBatcher<StepRow, number> {
    let batcher = this.batchers.get(rate);
    if (!batcher) {
      // The batcher runs one merged run at a time, so one set of buffers serves all its runs.
      const buffers = newRunBuffers();
      batcher = new DynamicBatcher<StepRow, number>({
        maxBatch: this.maxBatch,
        // The calls of this moment are the ones to merge: no waiting for later ones.
        maxDelayMs: 0,
        run: (rows) => this.runRows(rate, rows, buffers),
      });
      this.batchers.set(rate, batcher);
    }
    return batcher;
  }

  /**
   * `auto`: one window alone against 32 in one run, on this machine now. A merged step saves the cost of
   * separate runs of each call's windows; a call has one window per 32 ms of audio, so what a window saves
   * is compared with what merging costs a window (copying its row in and out, ~µs), not with a request's
   * HTTP cost as for a text (hence the small `minSavedMs`).
   */
  private async decideSharing(): Promise<boolean> {
    if (this.batching !== 'auto') return this.batching === 'on';
    const width = (CONTEXT[16000] as number) + (WINDOW[16000] as number);
    const row = (): StepRow => ({
      input: Float32Array.from({ length: width }, (_, i) => 0.1 * Math.sin(i / 7)),
      state: new Float32Array(2 * STATE_WIDTH),
    });
    const rows = Array.from({ length: 32 }, row);
    const buffers = newRunBuffers();
    const single = [row()];
    const singleMs = await medianMs(() => this.runRows(16000, single, buffers), 15);
    const batchMs = await medianMs(() => this.runRows(16000, rows, buffers), 15);
    return batchingPays({ singleMs, batchMs, size: rows.length }, { minSavedMs: AUTO_MIN_SAVED_MS });
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
