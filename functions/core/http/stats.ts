/**
 * The latencies of a server's own recent inference requests, per task, in memory: what the page's live
 * chart and `GET /v1/stats` show. Bounded: a ring buffer of the last {@link RequestStatsOptions.capacity}
 * requests per task, and only tasks the server serves (a client cannot grow it by naming new ones).
 */

/** One request as the stats keep it. */
export interface RequestSample {
  /** When it was answered, ms since the epoch. */
  readonly at: number;
  /** Milliseconds from arrival to the answer. */
  readonly latencyMs: number;
  /** The HTTP status answered. */
  readonly status: number;
}

/** p50 and p95 of the requests answered in one time bucket. */
export interface LatencyPoint {
  /** Start of the bucket, ms since the epoch. */
  readonly at: number;
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
}

/** What `GET /v1/stats` answers for one task. */
export interface TaskStats {
  /** Requests in the window (at most the capacity). */
  readonly count: number;
  /** Of those, answered with a status of 400 or more. */
  readonly errors: number;
  /** Percentiles of the successful requests in the window, in ms; null when there are none. */
  readonly p50: number | null;
  readonly p95: number | null;
  /** Percentiles per {@link RequestStatsOptions.bucketMs} bucket, oldest first, empty buckets left out. */
  readonly series: LatencyPoint[];
}

/** Options of {@link RequestStats}. */
export interface RequestStatsOptions {
  /** Requests kept per task; 512 by default. */
  readonly capacity?: number;
  /** Width of a chart bucket in ms; 10 s by default. */
  readonly bucketMs?: number;
  /** How far back the series reaches, in ms; 5 minutes by default. */
  readonly horizonMs?: number;
  /** The clock, for tests. */
  readonly now?: () => number;
}

/** Fixed-size ring buffer: the newest `capacity` samples, oldest overwritten first. */
class Ring {
  private readonly samples: RequestSample[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  push(sample: RequestSample): void {
    if (this.samples.length < this.capacity) this.samples.push(sample);
    else this.samples[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  all(): RequestSample[] {
    return this.samples.length < this.capacity
      ? [...this.samples]
      : [...this.samples.slice(this.next), ...this.samples.slice(0, this.next)];
  }
}

/** The `q` quantile (0..1) of sorted values, nearest rank, rounded to 0.01 ms. */
function quantile(sorted: readonly number[], q: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round((sorted[index] ?? 0) * 100) / 100;
}

function percentiles(samples: readonly RequestSample[]): { p50: number; p95: number } | undefined {
  const sorted = samples
    .filter((s) => s.status < 400)
    .map((s) => s.latencyMs)
    .sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

/**
 * Recent request latencies per served task.
 *
 * @example
 * ```ts
 * const stats = new RequestStats(['image/ocr']);
 * stats.record('image/ocr', { at: Date.now(), latencyMs: 84, status: 200 });
 * stats.snapshot()['image/ocr'].p50; // 84
 * ```
 */
export class RequestStats {
  private readonly rings: ReadonlyMap<string, Ring>;
  private readonly bucketMs: number;
  private readonly horizonMs: number;
  private readonly now: () => number;

  constructor(tasks: readonly string[], options: RequestStatsOptions = {}) {
    const capacity = options.capacity ?? 512;
    this.rings = new Map(tasks.map((task) => [task, new Ring(capacity)]));
    this.bucketMs = options.bucketMs ?? 10_000;
    this.horizonMs = options.horizonMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Keeps one request of `task`; a task that is not served is ignored. */
  record(task: string, sample: RequestSample): void {
    this.rings.get(task)?.push(sample);
  }

  /** Every served task's stats now, by task name. */
  snapshot(): Record<string, TaskStats> {
    const now = this.now();
    const since = now - this.horizonMs;
    const result: Record<string, TaskStats> = {};
    for (const [task, ring] of this.rings) {
      const samples = ring.all();
      const buckets = new Map<number, RequestSample[]>();
      for (const sample of samples) {
        if (sample.at < since) continue;
        const at = Math.floor(sample.at / this.bucketMs) * this.bucketMs;
        const bucket = buckets.get(at);
        if (bucket) bucket.push(sample);
        else buckets.set(at, [sample]);
      }
      const series: LatencyPoint[] = [];
      for (const [at, bucket] of [...buckets].sort(([a], [b]) => a - b)) {
        const p = percentiles(bucket);
        if (p) series.push({ at, count: bucket.length, ...p });
      }
      const overall = percentiles(samples);
      result[task] = {
        count: samples.length,
        errors: samples.filter((s) => s.status >= 400).length,
        p50: overall?.p50 ?? null,
        p95: overall?.p95 ?? null,
        series,
      };
    }
    return result;
  }
}
