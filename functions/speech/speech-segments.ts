/** How per-window speech probabilities become segments. Durations are in milliseconds unless named `S`. */
export interface SegmentationOptions {
  /** Speech starts when a window's probability reaches this. Default 0.5. */
  readonly threshold: number;
  /** Speech may end once probabilities fall below this (hysteresis). Default `max(threshold - 0.15, 0.01)`. */
  readonly negThreshold: number;
  /** Shorter speech is dropped. Default 250 ms. */
  readonly minSpeechDurationMs: number;
  /**
   * A segment ends only after this much silence; shorter pauses stay inside it. Default 200 ms: Silero's
   * own 100 ms splits sentences at the gaps between words (stops, breaths), 200 ms keeps them whole and
   * still separates sentences 0.4 s apart (measured in `npm run bench:speech`).
   */
  readonly minSilenceDurationMs: number;
  /** Added before and after each segment (split evenly where two segments are closer). Default 30 ms. */
  readonly speechPadMs: number;
  /** Longer speech is split, at its longest pause over 98 ms if it has one. Default: no limit. */
  readonly maxSpeechDurationS: number;
}

/** Silero's own defaults (`get_speech_timestamps`), but for a longer minimum silence. */
export const DEFAULT_SEGMENTATION: SegmentationOptions = Object.freeze({
  threshold: 0.5,
  negThreshold: 0.35,
  minSpeechDurationMs: 250,
  minSilenceDurationMs: 200,
  speechPadMs: 30,
  maxSpeechDurationS: Number.POSITIVE_INFINITY,
});

/** The defaults with `overrides` applied; `negThreshold` follows a changed `threshold` unless given. */
export function segmentationOptions(overrides: Partial<SegmentationOptions> = {}): SegmentationOptions {
  const threshold = overrides.threshold ?? DEFAULT_SEGMENTATION.threshold;
  const negThreshold =
    overrides.negThreshold ??
    (overrides.threshold === undefined
      ? DEFAULT_SEGMENTATION.negThreshold
      : Math.max(threshold - 0.15, 0.01));
  return { ...DEFAULT_SEGMENTATION, ...overrides, threshold, negThreshold };
}

/** A stretch of speech in samples of the model's rate, before padding, with its mean probability. */
export interface SampleSegment {
  start: number;
  end: number;
  readonly confidence: number;
}

/** Windows of silence a split of over-long speech may use (Silero's `min_silence_at_max_speech`). */
const MIN_SILENCE_AT_MAX_SPEECH_MS = 98;

/**
 * Silero's `get_speech_timestamps` as a streaming state machine: feed it one probability per window, in
 * order, then {@link SpeechSegmenter.finish}. It keeps only the segments found, so a file of any length
 * is segmented in constant memory per open segment.
 */
export class SpeechSegmenter {
  private readonly segments: SampleSegment[] = [];
  private readonly minSpeech: number;
  private readonly minSilence: number;
  private readonly minSilenceAtMax: number;
  private readonly maxSpeech: number;
  private readonly pad: number;
  private window = 0;
  private triggered = false;
  private start = 0;
  private tempEnd = 0;
  private prevEnd = 0;
  private nextStart = 0;
  /** Sum of every probability so far: a segment's confidence is the mean over its windows. */
  private total = 0;
  private totalAtStart = 0;
  private totalAtTempEnd = 0;
  private totalAtPrevEnd = 0;
  private totalAtNextStart = 0;

  /**
   * @param windowSize - samples per window (512 at 16 kHz, 256 at 8 kHz).
   * @param sampleRate - the rate the model ran at.
   */
  constructor(
    private readonly windowSize: number,
    sampleRate: number,
    private readonly options: SegmentationOptions,
  ) {
    const perMs = sampleRate / 1000;
    this.minSpeech = options.minSpeechDurationMs * perMs;
    this.minSilence = options.minSilenceDurationMs * perMs;
    this.minSilenceAtMax = MIN_SILENCE_AT_MAX_SPEECH_MS * perMs;
    this.pad = Math.round(options.speechPadMs * perMs);
    this.maxSpeech = sampleRate * options.maxSpeechDurationS - windowSize - 2 * this.pad;
  }

  /** Takes the speech probability of the next window. */
  push(probability: number): void {
    const { threshold, negThreshold } = this.options;
    const cur = this.windowSize * this.window++;
    const before = this.total;
    this.total += probability;

    if (probability >= threshold && this.tempEnd) {
      this.tempEnd = 0;
      if (this.nextStart < this.prevEnd) this.markNextStart(cur, before);
    }
    if (probability >= threshold && !this.triggered) {
      this.triggered = true;
      this.start = cur;
      this.totalAtStart = before;
      return;
    }
    if (this.triggered && cur - this.start > this.maxSpeech) {
      if (this.prevEnd) {
        this.emit(this.prevEnd, this.totalAtPrevEnd);
        if (this.nextStart < this.prevEnd) {
          this.triggered = false;
        } else {
          this.start = this.nextStart;
          this.totalAtStart = this.totalAtNextStart;
        }
      } else {
        this.emit(cur, before);
        this.triggered = false;
      }
      this.prevEnd = this.nextStart = this.tempEnd = 0;
      if (!this.triggered) return;
    }
    if (probability < negThreshold && this.triggered) {
      if (!this.tempEnd) {
        this.tempEnd = cur;
        this.totalAtTempEnd = before;
      }
      if (cur - this.tempEnd > this.minSilenceAtMax) {
        this.prevEnd = this.tempEnd;
        this.totalAtPrevEnd = this.totalAtTempEnd;
      }
      if (cur - this.tempEnd < this.minSilence) return;
      if (this.tempEnd - this.start > this.minSpeech) this.emit(this.tempEnd, this.totalAtTempEnd);
      this.prevEnd = this.nextStart = this.tempEnd = 0;
      this.triggered = false;
    }
  }

  /**
   * Closes an open segment at the end of the audio and pads every segment.
   *
   * @param length - samples of audio at the model's rate (the last window may have been zero-padded).
   * @returns segments in samples at the model's rate, padded, in order, never overlapping.
   */
  finish(length: number): SampleSegment[] {
    if (this.triggered && length - this.start > this.minSpeech) {
      this.segments.push({
        start: this.start,
        end: length,
        confidence: this.mean(this.totalAtStart, this.total, this.start, this.windowSize * this.window),
      });
    }
    this.triggered = false;
    const s = this.segments;
    const pad = this.pad;
    for (let i = 0; i < s.length; i++) {
      const segment = s[i] as SampleSegment;
      const next = s[i + 1];
      if (i === 0) segment.start = Math.max(0, segment.start - pad);
      if (next) {
        const silence = next.start - segment.end;
        if (silence < 2 * pad) {
          segment.end += Math.floor(silence / 2);
          next.start = Math.max(0, next.start - Math.floor(silence / 2));
        } else {
          segment.end = Math.min(length, segment.end + pad);
          next.start = Math.max(0, next.start - pad);
        }
      } else {
        segment.end = Math.min(length, segment.end + pad);
      }
    }
    return s;
  }

  private markNextStart(cur: number, before: number): void {
    this.nextStart = cur;
    this.totalAtNextStart = before;
  }

  private emit(end: number, totalAtEnd: number): void {
    this.segments.push({
      start: this.start,
      end,
      confidence: this.mean(this.totalAtStart, totalAtEnd, this.start, end),
    });
  }

  private mean(totalFrom: number, totalTo: number, from: number, to: number): number {
    const windows = Math.round((to - from) / this.windowSize);
    return windows > 0 ? (totalTo - totalFrom) / windows : 0;
  }
}
