import { describe, expect, it } from 'vitest';
import {
  type SegmentationOptions,
  SpeechSegmenter,
  segmentationOptions,
} from '../../functions/speech/speech-segments.ts';

const WINDOW = 512;
const RATE = 16000;
/** Seconds per window at 16 kHz. */
const W = WINDOW / RATE;

/** Probabilities from a pattern: runs of [probability, windows]. */
function pattern(...runs: [number, number][]): number[] {
  return runs.flatMap(([p, n]) => Array<number>(n).fill(p));
}

function segment(probabilities: number[], overrides: Partial<SegmentationOptions> = {}) {
  const segmenter = new SpeechSegmenter(WINDOW, RATE, segmentationOptions({ speechPadMs: 0, ...overrides }));
  for (const p of probabilities) segmenter.push(p);
  return segmenter.finish(probabilities.length * WINDOW).map((s) => ({
    start: s.start / RATE,
    end: s.end / RATE,
    confidence: s.confidence,
  }));
}

describe('SpeechSegmenter', () => {
  it('opens a segment at the first window over the threshold and closes it where silence began', () => {
    const probabilities = pattern([0.1, 10], [0.9, 20], [0.1, 10]);

    const segments = segment(probabilities);

    expect(segments).toHaveLength(1);
    expect(segments[0]?.start).toBeCloseTo(10 * W, 6);
    expect(segments[0]?.end).toBeCloseTo(30 * W, 6);
    expect(segments[0]?.confidence).toBeCloseTo(0.9, 6);
  });

  it('keeps speech open while probabilities stay between the two thresholds (hysteresis)', () => {
    const probabilities = pattern([0.1, 5], [0.9, 10], [0.4, 20], [0.9, 10], [0.1, 10]);

    const segments = segment(probabilities, { threshold: 0.5, negThreshold: 0.35 });

    expect(segments).toHaveLength(1);
    expect(segments[0]?.end).toBeCloseTo(45 * W, 6);
  });

  it('does not open speech on probabilities between the two thresholds', () => {
    expect(segment(pattern([0.1, 5], [0.45, 40], [0.1, 5]))).toEqual([]);
  });

  it('bridges a pause shorter than the minimum silence and splits at a longer one', () => {
    const short = pattern([0.9, 20], [0.1, 2], [0.9, 20], [0.1, 20]);
    const long = pattern([0.9, 20], [0.1, 10], [0.9, 20], [0.1, 20]);

    expect(segment(short, { minSilenceDurationMs: 100 })).toHaveLength(1);
    expect(segment(long, { minSilenceDurationMs: 100 })).toHaveLength(2);
    expect(segment(long, { minSilenceDurationMs: 400 })).toHaveLength(1);
  });

  it('drops speech shorter than the minimum duration', () => {
    const probabilities = pattern([0.1, 10], [0.9, 5], [0.1, 20], [0.9, 20], [0.1, 20]);

    const segments = segment(probabilities, { minSpeechDurationMs: 250 });

    expect(segments).toHaveLength(1);
    expect(segments[0]?.start).toBeCloseTo(35 * W, 6);
  });

  it('closes a segment still open at the end of the audio', () => {
    const segments = segment(pattern([0.1, 10], [0.9, 20]));

    expect(segments).toHaveLength(1);
    expect(segments[0]?.end).toBeCloseTo(30 * W, 6);
  });

  it('pads segments, splitting the gap evenly where two are closer than twice the padding', () => {
    const probabilities = pattern([0.1, 10], [0.9, 20], [0.1, 5], [0.9, 20], [0.1, 40], [0.9, 20], [0.1, 10]);

    const segments = segment(probabilities, { minSilenceDurationMs: 100, speechPadMs: 100 });

    expect(segments).toHaveLength(3);
    expect(segments[0]?.start).toBeCloseTo(10 * W - 0.1, 6);
    // The 5-window gap (160 ms) is under 2 × 100 ms: each side takes half of it.
    expect(segments[0]?.end).toBeCloseTo(32.5 * W, 6);
    expect(segments[1]?.start).toBeCloseTo(32.5 * W, 6);
    expect(segments[1]?.end).toBeCloseTo(55 * W + 0.1, 6);
    expect(segments[2]?.start).toBeCloseTo(95 * W - 0.1, 6);
  });

  it('splits speech longer than the maximum duration at its longest earlier pause', () => {
    // 3 s of speech with a 160 ms pause after 1.6 s; the limit is 2 s.
    const probabilities = pattern([0.9, 50], [0.1, 5], [0.9, 45], [0.1, 20]);

    const segments = segment(probabilities, { maxSpeechDurationS: 2, minSilenceDurationMs: 300 });

    expect(segments).toHaveLength(2);
    expect(segments[0]?.end).toBeCloseTo(50 * W, 6);
    expect(segments[1]?.start).toBeCloseTo(55 * W, 6);
    expect(segments[1]?.end).toBeCloseTo(100 * W, 6);
  });

  it('derives the lower threshold from a changed threshold unless it is given', () => {
    expect(segmentationOptions({ threshold: 0.7 }).negThreshold).toBeCloseTo(0.55, 6);
    expect(segmentationOptions({ threshold: 0.7, negThreshold: 0.2 }).negThreshold).toBe(0.2);
    expect(segmentationOptions().negThreshold).toBe(0.35);
  });
});
