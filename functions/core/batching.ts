/**
 * Dynamic batching: the work items of concurrent requests (texts, lines, frames) merged into one model run
 * and the results split back, each request getting exactly what a run of its own items would give.
 *
 * Continuous, not timed: while the model is busy, items queue; when it is free, everything queued (up to
 * `maxBatch`) goes in one run. An idle model waits at most `maxDelayMs` for company. Under no load a request
 * runs alone, almost at once; under load the batches grow by themselves to what the queue holds.
 *
 * Whether batching pays is a property of a model on a provider, measured, not assumed (see
 * {@link batchingPays}): on 2 CPU cores the PP-OCR recogniser costs more per line in a batch than alone,
 * on a GPU a line costs 20 ms alone and 3.1 ms in a batch of 32.
 */

/** Options of {@link DynamicBatcher}. */
export interface BatcherOptions<I, O> {
  /** Most items in one run. */
  readonly maxBatch: number;
  /**
   * The weight of an item (ids of a text, columns of a line) and the most weight in one run, when items
   * differ in size: a batch is cut at `maxBatch` items or `maxWeight`, whichever comes first.
   */
  readonly weigh?: (item: I) => number;
  readonly maxWeight?: number;
  /** Longest an item waits for others while the model is idle, in ms; 0: only those of the same tick. */
  readonly maxDelayMs: number;
  /** One model run over `items`, from several requests; its results in the same order, one per item. */
  readonly run: (items: readonly I[]) => Promise<readonly O[]>;
}

interface Pending<I, O> {
  readonly items: readonly I[];
  readonly weight: number;
  readonly resolve: (results: O[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Merges concurrent requests' items into shared runs.
 *
 * @example
 * ```ts
 * const batcher = new DynamicBatcher({ maxBatch: 256, maxDelayMs: 1, run: (texts) => classifyAll(texts) });
 * const mine = await batcher.submit(['first text', 'second text']); // two results, in order
 * ```
 */
export class DynamicBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private queuedItems = 0;
  private running = false;
  /** Cancels the pending flush of an idle model, when one is scheduled. */
  private cancelWait: (() => void) | undefined;
  /** Runs made and items run, for tests and benchmarks. */
  readonly stats = { runs: 0, items: 0 };

  constructor(private readonly options: BatcherOptions<I, O>) {
    if (!(options.maxBatch >= 1)) throw new RangeError('maxBatch must be at least 1');
  }

  /**
   * The results of `items`, in order, from one or more shared runs. A request with more items than
   * `maxBatch` is run in parts, never split among other requests' runs out of order.
   *
   * @throws what the run throws, to every request whose items were in it.
   */
  submit(items: readonly I[]): Promise<O[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (items.length > this.options.maxBatch) {
      const parts: Promise<O[]>[] = [];
      for (let at = 0; at < items.length; at += this.options.maxBatch)
        parts.push(this.submit(items.slice(at, at + this.options.maxBatch)));
      return Promise.all(parts).then((results) => results.flat());
    }
    const weigh = this.options.weigh;
    const weight = weigh ? items.reduce((sum, item) => sum + weigh(item), 0) : 0;
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ items, weight, resolve, reject });
      this.queuedItems += items.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queuedItems >= this.options.maxBatch) {
      this.flush();
      return;
    }
    // Idle: give the requests of this moment a chance to join (setImmediate lets the I/O of this tick in).
    if (this.cancelWait) return;
    if (this.options.maxDelayMs > 0) {
      const timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
      this.cancelWait = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.flush());
      this.cancelWait = () => clearImmediate(immediate);
    }
  }

  private flush(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    if (this.running || this.queue.length === 0) return;
    // Whole requests, oldest first, while they fit (the first always does: submit splits the large ones).
    const batch: Pending<I, O>[] = [];
    const maxWeight = this.options.maxWeight ?? Number.POSITIVE_INFINITY;
    let size = 0;
    let weight = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0] as Pending<I, O>;
      const full = size + next.items.length > this.options.maxBatch || weight + next.weight > maxWeight;
      if (batch.length > 0 && full) break;
      batch.push(next);
      size += next.items.length;
      weight += next.weight;
      this.queue.shift();
    }
    this.queuedItems -= size;
    this.running = true;
    this.stats.runs += 1;
    this.stats.items += size;
    const items = batch.flatMap((pending) => pending.items);
    this.options
      .run(items)
      .then(
        (results) => {
          if (results.length !== items.length)
            throw new Error(`a batched run gave ${results.length} results for ${items.length} items`);
          let at = 0;
          for (const pending of batch) {
            pending.resolve(results.slice(at, at + pending.items.length));
            at += pending.items.length;
          }
        },
        (error: unknown) => {
          for (const pending of batch) pending.reject(error);
        },
      )
      .catch((error: unknown) => {
        for (const pending of batch) pending.reject(error);
      })
      .finally(() => {
        this.running = false;
        // What queued during the run goes next, at once: it has waited a run already.
        if (this.queue.length > 0) this.flush();
      });
  }
}

/** Measured costs of one model run alone and of one batch, in ms. */
export interface BatchCosts {
  /** One item alone. */
  readonly singleMs: number;
  /** `size` items in one run. */
  readonly batchMs: number;
  readonly size: number;
}

/**
 * Whether merging requests' runs pays for a model, from its measured costs. Two conditions:
 *
 * - an item in a batch costs at most `1 / minGain` of an item alone (default 1.2, so that noise does not
 *   switch it on). PP-OCR's recogniser on 2 CPU cores: [5,3,48,320] ~96 ms vs [1,3,48,320] ~19 ms, no
 *   cheaper a line: does not pay. On WebGPU: 100 ms for 32 lines vs 20 ms for one: pays.
 * - the time saved per item is at least `minSavedMs` (default 0.5 ms): what a request costs the server
 *   besides its model run (HTTP, parsing, JSON, metrics; ~2.5 ms a text request on this machine). The text
 *   classifier's run costs ~0.05 ms alone and ~0.01 ms a text in a batch: 5x cheaper, but 0.04 ms saved on
 *   a request of ~2.5 ms is not worth the batcher's own turn of the event loop (`npm run bench:load`).
 */
export function batchingPays(
  costs: BatchCosts,
  options: { minGain?: number; minSavedMs?: number } = {},
): boolean {
  const single = costs.singleMs;
  const batched = costs.batchMs / costs.size;
  return batched <= single / (options.minGain ?? 1.2) && single - batched >= (options.minSavedMs ?? 0.5);
}

/**
 * The median time of `run` over `repeats` calls after one warm-up, in ms: what {@link batchingPays} is
 * fed with.
 */
export async function medianMs(run: () => Promise<unknown>, repeats = 9): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}
