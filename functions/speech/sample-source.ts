/**
 * A mono stream of float samples in [-1, 1] that is pulled a block at a time: decoders, the resampler and
 * the voice activity detector pass audio along this way so that no stage holds a whole long recording.
 */
export interface SampleSource {
  /** Samples per second. */
  readonly sampleRate: number;
  /**
   * Total number of samples the stream yields; `Infinity` while unknown (a compressed stream learns its
   * length when it has been decoded to the end).
   */
  readonly length: number;
  /**
   * Writes up to `count` next samples into `target` from `offset` and returns how many it wrote;
   * fewer than asked only at the end of the stream, 0 once it is exhausted. A source with
   * {@link SampleSource.prefetch} guarantees this only for samples it was asked to prefetch.
   */
  read(target: Float32Array, offset: number, count: number): number;
  /**
   * Present on sources that decode asynchronously: resolves once the next `count` samples (or all that
   * remain) can be read synchronously. Sources without it are always ready.
   */
  prefetch?(count: number): Promise<void>;
}

/** A {@link SampleSource} over samples already in memory (tests, benchmarks). */
export function arraySampleSource(samples: Float32Array, sampleRate: number): SampleSource {
  let position = 0;
  return {
    sampleRate,
    length: samples.length,
    read(target, offset, count) {
      const n = Math.min(count, samples.length - position);
      target.set(samples.subarray(position, position + n), offset);
      position += n;
      return n;
    },
  };
}

/** Reads a whole source into memory: for short clips, tests and benchmarks only. */
export async function readAllSamples(source: SampleSource): Promise<Float32Array> {
  const block = 16384;
  let out = new Float32Array(Number.isFinite(source.length) ? source.length : block);
  let filled = 0;
  for (;;) {
    if (source.prefetch) await source.prefetch(block);
    if (filled + block > out.length) {
      const grown = new Float32Array(Math.max(out.length * 2, filled + block));
      grown.set(out.subarray(0, filled));
      out = grown;
    }
    const n = source.read(out, filled, block);
    if (n === 0) break;
    filled += n;
  }
  return out.slice(0, filled);
}
