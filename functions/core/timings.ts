/** Per-stage wall-clock times of one request, in milliseconds. */
export interface StageTimings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  total: number;
}

/** The stages a pipeline reports; `total` is measured separately, end to end. */
export type Stage = Exclude<keyof StageTimings, 'total'>;

/**
 * Accumulates time per stage; a stage may be entered several times (e.g. detection, then recognition).
 * Overlapping entries of one stage (runs of a session pool at once) count the wall-clock time during which
 * any of them was under way, not the sum of their durations.
 */
export class Stopwatch {
  private readonly started = performance.now();
  private readonly spent: Record<Stage, number> = { decode: 0, preprocess: 0, inference: 0, postprocess: 0 };
  private readonly open: Record<Stage, { count: number; since: number }> = {
    decode: { count: 0, since: 0 },
    preprocess: { count: 0, since: 0 },
    inference: { count: 0, since: 0 },
    postprocess: { count: 0, since: 0 },
  };

  /** Runs `fn` and adds its duration to `stage` (the part not already counted by an overlapping entry). */
  async time<T>(stage: Stage, fn: () => Promise<T> | T): Promise<T> {
    const entry = this.open[stage];
    if (entry.count++ === 0) entry.since = performance.now();
    try {
      return await fn();
    } finally {
      if (--entry.count === 0) this.spent[stage] += performance.now() - entry.since;
    }
  }

  /** Synchronous variant of {@link time}. */
  timeSync<T>(stage: Stage, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.spent[stage] += performance.now() - t0;
    }
  }

  /** The timings so far, rounded to 0.01 ms. */
  read(): StageTimings {
    const r = (ms: number) => Math.round(ms * 100) / 100;
    return {
      decode: r(this.spent.decode),
      preprocess: r(this.spent.preprocess),
      inference: r(this.spent.inference),
      postprocess: r(this.spent.postprocess),
      total: r(performance.now() - this.started),
    };
  }
}
