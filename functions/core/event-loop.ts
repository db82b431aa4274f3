/**
 * Keeping long JavaScript loops from holding the event loop: one request's featurisation, explanations or
 * CTC decoding would otherwise keep every other request, health probes included, waiting until it ends.
 */

/** Longest stretch of synchronous work between two yields, in ms: well under the ~100 ms a probe may wait. */
export const SLICE_MS = 20;

/** Lets pending I/O and timers (other requests, health probes) run, then continues. */
export function yieldToEventLoop(): Promise<void> {
  // setImmediate, not a resolved promise: microtasks run before I/O, so they would not let a request in.
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Cuts a long loop into slices of about {@link SLICE_MS}: call {@link TimeSlicer.pause} between items; it
 * yields only once the current slice has run its time, so a small request never waits for the loop.
 *
 * @example
 * ```ts
 * const slicer = new TimeSlicer();
 * for (const text of texts) {
 *   ids.push(featurize(text, settings));
 *   await slicer.pause();
 * }
 * ```
 */
export class TimeSlicer {
  private sliceStart = performance.now();

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** True when the current slice has run its time (for loops that would rather not await per item). */
  due(): boolean {
    return performance.now() - this.sliceStart >= this.sliceMs;
  }

  /** Yields to the event loop if the slice has run its time; resolves at once otherwise. */
  async pause(): Promise<void> {
    if (!this.due()) return;
    await yieldToEventLoop();
    this.sliceStart = performance.now();
  }
}
