import type { SampleSource } from './sample-source.ts';

/** Filter design of {@link resample}. */
export interface ResampleOptions {
  /** End of the passband as a fraction of the lower Nyquist frequency. Default 0.8 (6.4 kHz at 16 kHz). */
  readonly passband?: number;
  /** Stopband attenuation in dB, from the lower Nyquist frequency up. Default 70. */
  readonly attenuationDb?: number;
}

/** More filter phases than this are quantised (rates with no common factor): 1/8192 of a sample of jitter. */
const MAX_PHASES = 4096;

/** A designed polyphase filter: `phases` rows of `taps` coefficients. */
interface PolyphaseFilter {
  readonly up: number;
  readonly down: number;
  readonly phases: number;
  readonly taps: number;
  /** Half the span in input samples: output `t` reads inputs `floor(t) - half + 1 … floor(t) + half`. */
  readonly half: number;
  readonly coefficients: Float32Array;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (the Kaiser window's kernel). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64 && term > sum * 1e-12; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

/**
 * Designed filters kept for reuse, fewest recently used first. Bounded: the rate comes from the request, so
 * a client naming a new rate each time (47001 Hz, 47003 Hz, …) would otherwise make the process keep a
 * filter of up to ~2 MiB (4096 phases × ~128 taps) per request for good. Real traffic uses a handful of
 * rates; a rate that falls out is designed again in ~30 ms.
 */
const filters = new Map<string, PolyphaseFilter>();

/** Filters {@link filters} keeps: every common rate pair (8, 11.025, 16, 22.05, 24, 32, 44.1, 48 kHz) fits. */
export const MAX_CACHED_FILTERS = 8;

/** Keeps `filter` as the most recently used, dropping the least recently used beyond the bound. */
function remember(key: string, filter: PolyphaseFilter): void {
  filters.delete(key);
  filters.set(key, filter);
  while (filters.size > MAX_CACHED_FILTERS) {
    const oldest = filters.keys().next().value as string;
    filters.delete(oldest);
  }
}

/** How many designed filters are kept now (for tests of the bound). */
export function cachedFilterCount(): number {
  return filters.size;
}

/**
 * Designs (once per rate pair) a Kaiser-windowed sinc low-pass, cut off between the passband edge and the
 * lower Nyquist frequency, sampled at every output phase: a polyphase filter for the rational ratio
 * `to / from`. Each phase is normalised to unit DC gain.
 */
function designFilter(from: number, to: number, options: ResampleOptions): PolyphaseFilter {
  const passband = options.passband ?? 0.8;
  const attenuation = options.attenuationDb ?? 70;
  const key = `${from}:${to}:${passband}:${attenuation}`;
  const cached = filters.get(key);
  if (cached) {
    remember(key, cached);
    return cached;
  }

  const g = gcd(from, to);
  const up = to / g;
  const down = from / g;
  const nyquist = Math.min(from, to) / 2;
  const stopEdge = nyquist;
  const passEdge = passband * nyquist;
  // Cut-off as a fraction of the input rate, and the transition width in radians per input sample.
  const cutoff = (passEdge + stopEdge) / 2 / from;
  const transition = (2 * Math.PI * (stopEdge - passEdge)) / from;
  // Kaiser's formulas for the window shape and the length that reach `attenuation` dB.
  const beta =
    attenuation > 50
      ? 0.1102 * (attenuation - 8.7)
      : attenuation >= 21
        ? 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
        : 0;
  const length = (attenuation - 8) / (2.285 * transition) + 1;
  const half = Math.max(1, Math.ceil(length / 2));
  const taps = 2 * half;
  const phases = Math.min(up, MAX_PHASES);
  const coefficients = new Float32Array(phases * taps);
  const norm = besselI0(beta);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      // Distance, in input samples, from the output instant to input sample `floor(t) - half + 1 + k`.
      const d = k - half + 1 - frac;
      const x = d / half;
      const window = Math.abs(x) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - x * x)) / norm;
      const arg = 2 * cutoff * d;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      const h = 2 * cutoff * sinc * window;
      coefficients[p * taps + k] = h;
      sum += h;
    }
    for (let k = 0; k < taps; k++) (coefficients[p * taps + k] as number) /= sum;
  }
  const filter = { up, down, phases, taps, half, coefficients };
  remember(key, filter);
  return filter;
}

/** Input samples pulled from the source at a time. */
const INPUT_BLOCK = 4096;

/**
 * Resamples a stream to `targetRate` with a polyphase windowed-sinc filter (Kaiser window): content above
 * the lower of the two Nyquist frequencies is removed before it can alias, and the stream is converted a
 * block at a time with only the filter's span kept in memory. The same source is returned when the rates
 * already match.
 *
 * @example
 * ```ts
 * const at16k = resample(wavSampleSource(bytes, format), 16_000);
 * ```
 */
export function resample(
  source: SampleSource,
  targetRate: number,
  options: ResampleOptions = {},
): SampleSource {
  if (source.sampleRate === targetRate) return source;
  if (!Number.isInteger(source.sampleRate) || !Number.isInteger(targetRate) || targetRate <= 0) {
    throw new RangeError(`cannot resample ${source.sampleRate} Hz to ${targetRate} Hz`);
  }
  return new PolyphaseResampler(source, targetRate, designFilter(source.sampleRate, targetRate, options));
}

/** The streaming state of {@link resample}; a class so the hot loop reads fields, not closure slots. */
class PolyphaseResampler implements SampleSource {
  private readonly buffer: Float32Array;
  /** Absolute input index of `buffer[0]`; inputs before 0 and after the end read as silence. */
  private bufferStart: number;
  private buffered: number;
  private sourceDone = false;
  /** Input samples read from the source so far (all of them, once `sourceDone`). */
  private consumed = 0;
  private produced = 0;
  /** Floor of the current output instant, in input samples, and its fraction in 1/up of a sample. */
  private index = 0;
  private rest = 0;
  private readonly stepWhole: number;
  private readonly stepRest: number;

  /** Present when the source decodes asynchronously: asks it for the input the next outputs need. */
  readonly prefetch?: (count: number) => Promise<void>;

  constructor(
    private readonly source: SampleSource,
    readonly sampleRate: number,
    private readonly filter: PolyphaseFilter,
  ) {
    this.buffer = new Float32Array(filter.taps + INPUT_BLOCK);
    this.bufferStart = -(filter.half - 1);
    this.buffered = filter.half - 1;
    this.stepWhole = Math.floor(filter.down / filter.up);
    this.stepRest = filter.down % filter.up;
    const prefetch = source.prefetch?.bind(source);
    if (prefetch) {
      this.prefetch = async (count: number) => {
        // The last of the next `count` outputs reads inputs up to its instant + half (+1 when rounded up).
        const last = this.produced + count - 1;
        const needed = Math.floor((last * filter.down) / filter.up) + 1 + filter.half + 1;
        if (needed > this.consumed) await prefetch(needed - this.consumed);
      };
    }
  }

  /** ceil(n × to / from) for an input of n samples; `Infinity` while the source's length is unknown. */
  get length(): number {
    const n = this.source.length;
    return Number.isFinite(n) ? Math.ceil((n * this.filter.up) / this.filter.down) : n;
  }

  read(target: Float32Array, offset: number, count: number): number {
    const n = Math.min(count, this.length - this.produced);
    const { up, phases, taps, half, coefficients } = this.filter;
    const { buffer, stepWhole, stepRest } = this;
    const exact = phases === up;
    let index = this.index;
    let rest = this.rest;
    let end = this.bufferStart + this.buffered;
    let o = 0;
    for (; o < n; o++) {
      // An output exists for every instant before the end of the input (ceil(n × to / from) in all).
      if (this.sourceDone && index >= this.consumed) break;
      let at = index;
      let phase = rest;
      if (!exact) {
        phase = Math.round((rest * phases) / up);
        // A quantised phase that rounds up to a whole sample is phase 0 of the next one.
        if (phase === phases) {
          phase = 0;
          at += 1;
        }
      }
      if (at + half >= end) {
        this.fill(at - half + 1, at + half);
        end = this.bufferStart + this.buffered;
        if (this.sourceDone && index >= this.consumed) break;
      }
      const base = at - half + 1 - this.bufferStart;
      const row = phase * taps;
      // Four partial sums: fewer loop iterations and independent multiply-adds (taps is even).
      let a0 = 0;
      let a1 = 0;
      let k = 0;
      for (; k + 3 < taps; k += 4) {
        a0 += (coefficients[row + k] as number) * (buffer[base + k] as number);
        a1 += (coefficients[row + k + 1] as number) * (buffer[base + k + 1] as number);
        a0 += (coefficients[row + k + 2] as number) * (buffer[base + k + 2] as number);
        a1 += (coefficients[row + k + 3] as number) * (buffer[base + k + 3] as number);
      }
      for (; k < taps; k++) a0 += (coefficients[row + k] as number) * (buffer[base + k] as number);
      target[offset + o] = a0 + a1;
      index += stepWhole;
      rest += stepRest;
      if (rest >= up) {
        rest -= up;
        index += 1;
      }
    }
    this.index = index;
    this.rest = rest;
    this.produced += o;
    return o;
  }

  /** Makes `buffer` hold inputs `from … to` inclusive, dropping what lies before `from`. */
  private fill(from: number, to: number): void {
    const { buffer } = this;
    const drop = from - this.bufferStart;
    if (drop > 0) {
      buffer.copyWithin(0, drop, this.buffered);
      this.buffered -= drop;
      this.bufferStart = from;
    }
    while (this.bufferStart + this.buffered <= to) {
      const n = this.sourceDone ? 0 : this.source.read(buffer, this.buffered, buffer.length - this.buffered);
      if (n === 0) {
        this.sourceDone = true;
        buffer.fill(0, this.buffered);
        this.buffered = buffer.length;
      } else {
        this.buffered += n;
        this.consumed += n;
      }
    }
  }
}
