/**
 * How many lines one `session.run` of a line model (the recogniser, the orientation classifier) should
 * carry, decided from what runs measurably cost on this provider and thread count. On two CPU cores the
 * PP-OCRv4 recogniser costs 23 ms for one 320-column line and 204 ms for four (bench/ocr-batch-costs.ts):
 * batching there loses, and padding lines to a batch's widest costs again; on a GPU one run has a large
 * fixed cost and batches pay. The figures live in `batch-costs.json`, written by `npm run bench:ocr-costs`.
 */
import costTablesJson from './batch-costs.json' with { type: 'json' };

/** One measured run: `lines` lines of `width` columns took `ms` (median). */
export interface CostPoint {
  readonly lines: number;
  readonly width: number;
  readonly ms: number;
}

/** Measured costs of one machine shape, by model name. */
export interface CostTable {
  /** ISO date of the measurement. */
  readonly measured: string;
  /** One-minute load average while it was measured (other work on the machine inflates the figures). */
  readonly loadAverage: number;
  readonly models: Readonly<Record<string, readonly CostPoint[]>>;
}

/** Cost tables by `<provider>:<threads>`, e.g. `cpu:2`. */
export type CostTables = Record<string, CostTable>;

/**
 * A GPU's shape of costs where none was measured for the provider: the PP-OCRv4 recogniser on an H100
 * (WebGPU, `Clip` rewritten; ../shared/FACTS.md) took 20 ms for one 320-column line and 100 ms for 32.
 * A large fixed cost per run makes full batches pay, as they do on GPUs.
 */
export const GPU_FALLBACK_POINTS: readonly CostPoint[] = [
  { lines: 1, width: 320, ms: 20 },
  { lines: 32, width: 320, ms: 100 },
];

/** The stored measurements. */
export const COST_TABLES: Readonly<CostTables> = costTablesJson as CostTables;

/**
 * Estimated milliseconds of one run, from measured points: for each measured line count a straight line
 * in the width (least squares), interpolated between line counts and extrapolated per line beyond them.
 */
export class RunCostModel {
  private readonly fits: { lines: number; fixed: number; perColumn: number }[];

  constructor(points: readonly CostPoint[]) {
    const byLines = new Map<number, CostPoint[]>();
    for (const p of points) byLines.set(p.lines, [...(byLines.get(p.lines) ?? []), p]);
    this.fits = [...byLines.entries()]
      .sort(([a], [b]) => a - b)
      .map(([lines, ps]) => ({ lines, ...fitLine(ps) }));
    if (this.fits.length === 0) throw new RangeError('a run cost model needs at least one measured point');
  }

  /** Estimated milliseconds of one run of `lines` lines padded to `width` columns. */
  estimate(lines: number, width: number): number {
    const at = (f: (typeof this.fits)[number]) => Math.max(0, f.fixed + f.perColumn * width);
    const first = this.fits[0] as (typeof this.fits)[number];
    const last = this.fits[this.fits.length - 1] as (typeof this.fits)[number];
    if (lines <= first.lines) return (at(first) * lines) / first.lines;
    if (lines >= last.lines) return (at(last) * lines) / last.lines;
    const upper = this.fits.findIndex((f) => f.lines >= lines);
    const hi = this.fits[upper] as (typeof this.fits)[number];
    const lo = this.fits[upper - 1] as (typeof this.fits)[number];
    const t = (lines - lo.lines) / (hi.lines - lo.lines);
    return at(lo) + (at(hi) - at(lo)) * t;
  }
}

function fitLine(points: readonly CostPoint[]): { fixed: number; perColumn: number } {
  if (points.length === 1) {
    const p = points[0] as CostPoint;
    return { fixed: 0, perColumn: p.ms / p.width };
  }
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.width, 0) / n;
  const my = points.reduce((s, p) => s + p.ms, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.width - mx) * (p.ms - my);
    sxx += (p.width - mx) ** 2;
  }
  const perColumn = sxx > 0 ? sxy / sxx : my / mx;
  return { fixed: my - perColumn * mx, perColumn };
}

/** Bounds a plan must keep whatever the costs say. */
export interface BatchBounds {
  /** Most lines in one run (the option `recBatchSize`/`clsBatchSize`, at most the model's `maxBatchSize`). */
  readonly maxLines: number;
  /** Most columns (lines × padded width) in one run: bounds the memory of its output. */
  readonly maxColumns: number;
}

/** Runs to make: each an array of indices into the widths given, with the width they are padded to. */
export interface PlannedRun {
  readonly lines: number[];
  readonly width: number;
}

/**
 * Plans the runs of a line model. Lines are sorted by width and cut into contiguous groups, each padded
 * to its widest line's width; the cut minimises the total estimated cost (dynamic programming over the
 * sorted widths), so lines share a run only where the cost model says one run of them is cheaper than
 * separate runs, padding included.
 */
export class BatchPolicy {
  constructor(
    private readonly cost: RunCostModel,
    /** Where the costs come from, for logs and benchmarks (`cpu:2`, `default`). */
    readonly source: string,
  ) {}

  /** A policy that never batches: right for CPUs where nothing was measured (batching lost on 2 cores). */
  static oneLineAtATime(): BatchPolicy {
    return new BatchPolicy(new RunCostModel([{ lines: 1, width: 1, ms: 1 }]), 'one line at a time');
  }

  /**
   * The policy for `model` (its `variant`) on `provider` with `threads` intra-op threads, from the stored
   * tables: the table of that provider and thread count, else that provider's nearest thread count. A
   * variant without figures of its own (`<model>/<variant>`) uses the model's. Where nothing was
   * measured: one line at a time on the CPU, and on a GPU the figures of {@link GPU_FALLBACK_POINTS}.
   */
  static forModel(
    model: string,
    provider: string,
    threads: number,
    variant = 'fp32',
    tables: Readonly<CostTables> = COST_TABLES,
  ): BatchPolicy {
    const candidates = Object.entries(tables)
      .filter(([key]) => key.startsWith(`${provider}:`))
      .map(([key, table]) => ({
        key,
        points: table.models[`${model}/${variant}`] ?? table.models[model],
        threads: Number(key.slice(provider.length + 1)),
      }))
      .filter((c) => c.points !== undefined)
      .sort((a, b) => Math.abs(a.threads - threads) - Math.abs(b.threads - threads));
    const best = candidates[0];
    if (best?.points) return new BatchPolicy(new RunCostModel(best.points), best.key);
    if (provider === 'cpu') return BatchPolicy.oneLineAtATime();
    return new BatchPolicy(new RunCostModel(GPU_FALLBACK_POINTS), 'gpu fallback');
  }

  /** Estimated milliseconds of one run of `lines` lines padded to `width` columns. */
  estimate(lines: number, width: number): number {
    return this.cost.estimate(lines, width);
  }

  /**
   * Cuts lines of the given padded widths into runs. Every line is in exactly one run; a run holds at
   * most `maxLines` lines and `maxColumns` columns (a line wider than that alone is a run of its own).
   */
  plan(widths: readonly number[], bounds: BatchBounds): PlannedRun[] {
    const order = Array.from(widths.keys()).sort((a, b) => (widths[a] as number) - (widths[b] as number));
    const n = order.length;
    // best[i]: cheapest cost of the first i sorted lines; cut[i]: where its last run begins.
    const best = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
    const cut = new Int32Array(n + 1);
    best[0] = 0;
    for (let end = 1; end <= n; end++) {
      const width = widths[order[end - 1] as number] as number;
      for (let size = 1; size <= Math.min(bounds.maxLines, end); size++) {
        if (size > 1 && size * width > bounds.maxColumns) break;
        const total = (best[end - size] as number) + this.cost.estimate(size, width);
        if (total < (best[end] as number)) {
          best[end] = total;
          cut[end] = end - size;
        }
      }
    }
    const runs: PlannedRun[] = [];
    for (let end = n; end > 0; end = cut[end] as number) {
      const begin = cut[end] as number;
      runs.push({ lines: order.slice(begin, end), width: widths[order[end - 1] as number] as number });
    }
    return runs.reverse();
  }
}
