import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../infra/config/index.ts';
import { runPlanCli } from '../../scripts/plan/cli.ts';
import { loadPrices } from '../../scripts/plan/prices.ts';

interface SweepRow {
  readonly task: string;
  readonly memoryMb: number;
  readonly warm: { readonly p50Ms: number; readonly p95Ms: number };
  readonly coldStart: { readonly p50Ms: number };
}
const sweep = JSON.parse(readFileSync('bench/results/lambda-memory.json', 'utf8')) as {
  rows: SweepRow[];
  machine: { date: string };
};
const prices = loadPrices('scripts/plan/prices-us-east-1.json');

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'inferlet-plan-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The plan as JSON, for asserting on figures rather than on the table's layout. */
function planJson(args: readonly string[]) {
  const run = runPlanCli([...args, '--json']);
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  return JSON.parse(run.stdout) as {
    plan: {
      lambda: {
        chosen?: { option: { memoryMb: number; warmP50Ms: number; warmP95Ms: number; coldStartMs: number } };
        candidates: { option: { memoryMb: number; warmP50Ms: number } }[];
        monthly: number;
      };
      gpu: { monthly: number; bill: { instances: number }; throughput: { measured: boolean } };
      cheaper: string;
    };
    sources: string[];
    prices: { asOf: string };
  };
}

/** `loadConfig` as `cdk deploy -c inferletConfig=<file>` runs it, on a bare construct tree. */
function loadAsCdkWould(file: string) {
  const root = new Construct(undefined as unknown as Construct, '');
  root.node.setContext('inferletConfig', file);
  return loadConfig(root.node);
}

describe.each(['image/ocr', 'text/classify', 'speech/vad'])('npm run plan for %s', (task) => {
  it.each([1, 20, 200])('answers %s requests/s with a tier, its cost and its sources', (rps) => {
    const run = runPlanCli(['--task', task, '--rps', String(rps)]);

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Lambda: (\d+ MB, (on-demand|provisioned)|no measured memory size)/m);
    expect(run.stdout).toMatch(/^GPU: \d+ x g4dn\.xlarge .*ASSUMED, not measured/m);
    expect(run.stdout).toMatch(/^total\s+\$[\d.]+\s+\$[\d.]+$/m);
    expect(run.stdout).toMatch(/^Cheaper here: (Lambda|the GPU service)\. Break-even: /m);
    expect(run.stdout).toContain('bench/results/lambda-memory.json');
    expect(run.stdout).toContain(`as of ${prices.asOf}`);
  });

  it('takes each memory size of its Lambda tier from bench/results/lambda-memory.json', () => {
    const { plan, sources } = planJson(['--task', task, '--rps', '20']);
    const rows = sweep.rows.filter((row) => row.task === task);

    expect(plan.lambda.candidates.map((c) => [c.option.memoryMb, c.option.warmP50Ms])).toEqual(
      rows.map((row) => [row.memoryMb, row.warm.p50Ms]).sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    expect(sources[0]).toContain(sweep.machine.date.slice(0, 10));
  });
});

describe('what npm run plan writes', () => {
  it('writes a configuration the infra loader accepts, with the chosen memory', () => {
    const file = join(work, 'planned.json');
    const { plan } = planJson(['--task', 'image/ocr', '--rps', '20', '--write', file]);

    const config = loadAsCdkWould(file);

    expect(plan.lambda.chosen).toBeDefined();
    expect(config.tasks.image?.lambda?.http.memoryMb).toBe(plan.lambda.chosen?.option.memoryMb);
    expect(config.region).toBe('us-east-1');
    // The other tasks keep their defaults.
    expect(config.tasks.text?.lambda?.http.memoryMb).toBe(1024);
  });

  it('adds a GPU service sized for the rate where only the GPU tier meets the p95', () => {
    const file = join(work, 'gpu.json');
    const { plan } = planJson(['--task', 'image/ocr', '--rps', '200', '--p95-ms', '50', '--write', file]);

    const config = loadAsCdkWould(file);

    expect(plan.cheaper).toBe('gpu');
    expect(config.tasks.image?.gpu?.instanceType).toBe('g4dn.xlarge');
    expect(config.tasks.image?.gpu?.maxTasks).toBeGreaterThanOrEqual(plan.gpu.bill.instances);
    expect(config.api.throttle.rateLimit).toBeGreaterThanOrEqual(200);
  });

  it('draws both tiers against the rate, with the planned rate marked', () => {
    const file = join(work, 'chart.svg');

    const run = runPlanCli(['--task', 'speech/vad', '--rps', '20', '--svg', file]);
    const svg = readFileSync(file, 'utf8');

    expect(run.exitCode).toBe(0);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('stroke="#e07b00"');
    expect(svg).toContain('stroke="#2b6cb0"');
    expect(svg).toContain('planned 20/s');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});

describe('npm run plan refuses', () => {
  it('an unknown task, naming the valid ones', () => {
    const run = runPlanCli(['--task', 'image/caption', '--rps', '1']);

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('unknown task "image/caption"; valid: image/ocr, text/classify, speech/vad');
  });

  it('a rate that is not a number', () => {
    const run = runPlanCli(['--task', 'image/ocr', '--rps', 'lots']);

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('--rps must be a number');
  });

  it('a region without a price table, pointing at --prices', () => {
    const run = runPlanCli(['--task', 'image/ocr', '--rps', '1', '--region', 'eu-west-1']);

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('give one with --prices');
  });

  it('a price file with a bad field, naming it', () => {
    const file = join(work, 'bad-prices.json');
    writeFileSync(file, JSON.stringify({ ...prices, lambda: { ...prices.lambda, perGbSecond: -1 } }));

    const run = runPlanCli(['--task', 'image/ocr', '--rps', '1', '--prices', file]);

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('lambda.perGbSecond');
  });

  it('a results folder without the Lambda sweep, naming the bench to run', () => {
    const run = runPlanCli(['--task', 'image/ocr', '--rps', '1', '--results', work]);

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('npm run bench:lambda-memory');
  });
});
