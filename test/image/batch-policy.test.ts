import { describe, expect, it } from 'vitest';
import {
  BatchPolicy,
  COST_TABLES,
  type CostPoint,
  RunCostModel,
} from '../../functions/image/batch-policy.ts';
import { bucketWidth, MAX_BATCH_COLUMNS, WIDTH_BUCKET } from '../../functions/image/text-recognition.ts';

// Shapes of cost as the two machine kinds show them (../shared/FACTS.md): on two CPU cores a run costs per
// line and per column, more per line in a batch; on a GPU one run has a large fixed cost.
const CPU_LIKE: CostPoint[] = [
  { lines: 1, width: 320, ms: 20 },
  { lines: 1, width: 640, ms: 40 },
  { lines: 4, width: 320, ms: 110 },
  { lines: 4, width: 640, ms: 300 },
];
const GPU_LIKE: CostPoint[] = [
  { lines: 1, width: 320, ms: 20 },
  { lines: 32, width: 320, ms: 100 },
];
const unbounded = { maxLines: 64, maxColumns: Number.POSITIVE_INFINITY };

describe('RunCostModel', () => {
  it('reproduces the measured points and interpolates between line counts', () => {
    const model = new RunCostModel(CPU_LIKE);

    expect(model.estimate(1, 320)).toBeCloseTo(20, 6);
    expect(model.estimate(4, 640)).toBeCloseTo(300, 6);
    expect(model.estimate(2, 320)).toBeCloseTo(20 + (110 - 20) / 3, 6);
  });

  it('extrapolates per line beyond the largest measured batch', () => {
    const model = new RunCostModel(CPU_LIKE);

    expect(model.estimate(8, 320)).toBeCloseTo(220, 6);
  });
});

describe('BatchPolicy', () => {
  it('reads lines one at a time where batches cost more per line', () => {
    const policy = new BatchPolicy(new RunCostModel(CPU_LIKE), 'test');

    const runs = policy.plan([352, 320, 640, 320, 384], unbounded);

    expect(runs.map((r) => r.lines.length)).toEqual([1, 1, 1, 1, 1]);
    expect(runs.map((r) => r.width)).toEqual([320, 320, 352, 384, 640]);
  });

  it('fills batches where one run has a large fixed cost, padding each only to its widest line', () => {
    const policy = new BatchPolicy(new RunCostModel(GPU_LIKE), 'test');

    const runs = policy.plan([320, 640, 320, 352], unbounded);

    expect(runs).toHaveLength(1);
    expect(runs[0]?.width).toBe(640);
    expect([...(runs[0]?.lines ?? [])].sort()).toEqual([0, 1, 2, 3]);
  });

  it('keeps every run within its line and column bounds and every line in exactly one run', () => {
    const policy = new BatchPolicy(new RunCostModel(GPU_LIKE), 'test');
    const widths = Array.from({ length: 40 }, (_, i) => 320 + (i % 7) * 160);

    const runs = policy.plan(widths, { maxLines: 6, maxColumns: MAX_BATCH_COLUMNS });

    for (const run of runs) {
      expect(run.lines.length).toBeLessThanOrEqual(6);
      expect(run.lines.length * run.width).toBeLessThanOrEqual(MAX_BATCH_COLUMNS);
      for (const line of run.lines) expect(widths[line]).toBeLessThanOrEqual(run.width);
    }
    expect(runs.flatMap((r) => r.lines).sort((a, b) => a - b)).toEqual(Array.from(widths.keys()));
  });

  it('gives a line wider than the column bound a run of its own', () => {
    const policy = new BatchPolicy(new RunCostModel(GPU_LIKE), 'test');

    const runs = policy.plan([320, MAX_BATCH_COLUMNS, 320], { maxLines: 6, maxColumns: MAX_BATCH_COLUMNS });

    expect(runs.find((r) => r.width === MAX_BATCH_COLUMNS)?.lines).toEqual([1]);
  });

  it('plans nothing for no lines', () => {
    expect(BatchPolicy.oneLineAtATime().plan([], unbounded)).toEqual([]);
  });

  it('takes the stored figures of the nearest thread count, and reads one line at a time where none exist', () => {
    const tables = {
      'cpu:2': { measured: 'x', loadAverage: 0, models: { rec: CPU_LIKE } },
      'cpu:16': { measured: 'x', loadAverage: 0, models: { rec: GPU_LIKE } },
    };

    expect(BatchPolicy.forModel('rec', 'cpu', 4, 'fp32', tables).source).toBe('cpu:2');
    expect(BatchPolicy.forModel('rec', 'cpu', 12, 'fp32', tables).source).toBe('cpu:16');
    expect(BatchPolicy.forModel('other', 'cpu', 2, 'fp32', tables).source).toBe('one line at a time');
    expect(BatchPolicy.forModel('rec', 'cuda', 2, 'fp32', tables).source).toBe('gpu fallback');
  });

  it('holds measured recogniser and classifier costs for two CPU threads', () => {
    const table = COST_TABLES['cpu:2'];

    expect(table?.models['ppocr-v4-rec']?.length).toBeGreaterThan(3);
    expect(table?.models['ppocr-mobile-v2-cls']?.length).toBeGreaterThan(3);
  });
});

describe('bucketWidth', () => {
  const input = { height: 48, minWidth: 320 };

  it('rounds a line up to its bucket and no further', () => {
    expect(bucketWidth(500 / 48, input)).toBe(512);
    expect(bucketWidth(513 / 48, input)).toBe(512 + WIDTH_BUCKET);
  });

  it('pads short lines to the narrowest width and caps long ones at the column bound', () => {
    expect(bucketWidth(2, input)).toBe(320);
    expect(bucketWidth(1000, input)).toBe(MAX_BATCH_COLUMNS);
  });
});
