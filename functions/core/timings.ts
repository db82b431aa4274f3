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

/** Accumulates time per stage; a stage may be entered several times (e.g. detection, then recognition). */
export class Stopwatch {
  private readonly started = performance.now();
  private readonly spent: Record<Stage, number> = { decode: 0, preprocess: 0, inference: 0, postprocess: 0 };

  /** Runs `fn` and adds its duration to `stage`. */
  async time<T>(stage: Stage, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.spent[stage] += performance.now() - t0;
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
