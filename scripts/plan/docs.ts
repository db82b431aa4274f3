/**
 * `npm run plan:docs`: rewrites the plan blocks of docs/planning.md from what `npm run plan` and
 * `bench/results/lambda-memory.json` give now, so the page quotes them as last measured (as
 * `npm run docs:figures` does for the other benches). `--check` only reports a stale page and exits 1;
 * `test/plan/docs.test.ts` does the same.
 *
 * - `<!-- plan: ARGS -->` … `<!-- /plan -->`: the output of `npm run plan -- ARGS`; an `--svg PATH` among
 *   ARGS writes that chart too.
 * - `<!-- plan-sweep -->` … `<!-- /plan-sweep -->`: the Lambda sweep's table.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { markdownTable } from '../docs/figure-blocks.ts';
import { runPlanCli } from './cli.ts';

/** The page the blocks live in. */
export const PLANNING_PAGE = 'docs/planning.md';

const PLAN_BLOCK = /<!-- plan: ([^>]*?) -->\n[\s\S]*?<!-- \/plan -->/g;
const SWEEP_BLOCK = /<!-- plan-sweep -->\n[\s\S]*?<!-- \/plan-sweep -->/g;

/** A page with its blocks rendered, and the charts its blocks name (path -> SVG). */
export interface RenderedPlanDocs {
  readonly text: string;
  readonly charts: ReadonlyMap<string, string>;
}

/** Renders every plan block of `text` from the current results and prices. */
export function renderPlanBlocks(text: string, resultsDir = resolve('bench/results')): RenderedPlanDocs {
  const charts = new Map<string, string>();
  const work = mkdtempSync(join(tmpdir(), 'inferlet-plan-docs-'));
  try {
    const rendered = text
      .replace(PLAN_BLOCK, (_, argText: string) => {
        const args = argText.trim().split(/\s+/);
        const svgAt = args.indexOf('--svg');
        const chartPath = svgAt >= 0 ? args[svgAt + 1] : undefined;
        const planArgs = svgAt >= 0 ? [...args.slice(0, svgAt), ...args.slice(svgAt + 2)] : args;
        const run = runPlanCli([...planArgs, '--results', resultsDir]);
        if (run.exitCode !== 0) throw new Error(`npm run plan -- ${argText}: ${run.stderr}`);
        if (chartPath) {
          const file = join(work, `${charts.size}.svg`);
          const chart = runPlanCli([...planArgs, '--results', resultsDir, '--svg', file]);
          if (chart.exitCode !== 0) throw new Error(`npm run plan -- ${argText}: ${chart.stderr}`);
          charts.set(chartPath, readFileSync(file, 'utf8'));
        }
        return `<!-- plan: ${argText} -->\n\`\`\`text\n$ npm run plan -- ${planArgs.join(' ')}\n${run.stdout}\`\`\`\n<!-- /plan -->`;
      })
      .replace(SWEEP_BLOCK, () => `<!-- plan-sweep -->\n${sweepTable(resultsDir)}<!-- /plan-sweep -->`);
    return { text: rendered, charts };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface Sweep {
  machine: { date: string; cores: number; cpuModel: string; loadAverage: number };
  quota: { method: string };
  coldProcesses: number;
  warmRunsPerProcess: number;
  rows: {
    task: string;
    vcpu: number;
    memoryMb: number;
    requestBytes: number;
    warm: { runs: number; p50Ms: number; p95Ms: number };
    coldStart: ColdStart;
  }[];
  modelTiers: Record<'fp32' | 'lambda', { warm: { p50Ms: number }; coldStart: ColdStart }>;
}

interface ColdStart {
  p50Ms: number;
  importMs: number;
  loadMs: number;
  firstRequestMs: number;
}

/** The Lambda sweep as a markdown table, with the image task's fp32 against Lambda-tier cold start. */
function sweepTable(resultsDir: string): string {
  const sweep = JSON.parse(readFileSync(join(resultsDir, 'lambda-memory.json'), 'utf8')) as Sweep;
  const ms = (v: number) => `${Math.round(v)} ms`;
  const lines = [
    `From \`bench/results/lambda-memory.json\` (${sweep.machine.date.slice(0, 10)}, ${sweep.machine.cores} x ${sweep.machine.cpuModel}, ` +
      `CPU share by ${sweep.quota.method}; ${sweep.coldProcesses} fresh processes per row, ${sweep.warmRunsPerProcess} warm requests each; medians):`,
    '',
    markdownTable(
      [
        'task',
        'vCPU',
        'memory',
        'warm p50',
        'warm p95',
        'cold start',
        'bundle import',
        'first request',
        'in it: load (S3 + sessions)',
      ],
      sweep.rows.map((r) => [
        r.task,
        String(r.vcpu),
        `${r.memoryMb} MB`,
        `${r.warm.p50Ms} ms`,
        `${r.warm.p95Ms} ms`,
        ms(r.coldStart.p50Ms),
        ms(r.coldStart.importMs),
        ms(r.coldStart.firstRequestMs),
        ms(r.coldStart.loadMs),
      ]),
      ['left', ...Array<'right'>(8).fill('right')],
    ),
    '',
    'image/ocr at 1 vCPU, fp32 models against the Lambda tier (`MODEL_TIER=lambda`, the quantized detector and recogniser):',
    '',
    markdownTable(
      ['models', 'cold start', 'bundle import', 'first request', 'in it: load (S3 + sessions)', 'warm p50'],
      (['fp32', 'lambda'] as const).map((tier) => {
        const t = sweep.modelTiers[tier];
        const c = t.coldStart;
        return [
          tier === 'fp32' ? 'fp32' : 'Lambda tier',
          ms(c.p50Ms),
          ms(c.importMs),
          ms(c.firstRequestMs),
          ms(c.loadMs),
          `${t.warm.p50Ms} ms`,
        ];
      }),
      ['left', ...Array<'right'>(5).fill('right')],
    ),
    '',
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const before = readFileSync(PLANNING_PAGE, 'utf8');
  const { text, charts } = renderPlanBlocks(before);
  const stale = [
    ...(text === before ? [] : [PLANNING_PAGE]),
    ...[...charts]
      .filter(([path, svg]) => !existsSync(path) || readFileSync(path, 'utf8') !== svg)
      .map(([path]) => path),
  ];
  if (!check) {
    if (text !== before) writeFileSync(PLANNING_PAGE, text);
    for (const [path, svg] of charts) writeFileSync(path, svg);
  }
  process.stdout.write(
    stale.length ? `${check ? 'stale' : 'rewrote'}: ${stale.join(', ')}\n` : 'plan docs are up to date\n',
  );
  if (check && stale.length) process.exitCode = 1;
}
