/**
 * The `npm run plan` command line, callable in-process: arguments in, text and an exit code out (the tests
 * run it so, without a child process). `scripts/plan.ts` is its thin entry.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TASK_DESCRIPTORS } from '../../functions/core/tasks/descriptors.ts';
import { DEFAULT_CONFIG, mergeOverDefaults, parseConfig } from '../../infra/config/index.ts';
import { costChart } from './chart.ts';
import { plannedConfig } from './config.ts';
import { readMeasurements } from './measurements.ts';
import { breakEvenRps, costCurve, logRates, type PlanInputs, planTask } from './plan.ts';
import { defaultPriceFile, loadPrices } from './prices.ts';
import { formatPlan } from './report.ts';

/** The command's help text. */
export const PLAN_HELP = `npm run plan -- --task <task> --rps <n> [options]

  --task <name>           ${Object.keys(TASK_DESCRIPTORS).join(', ')}
  --rps <n>               requests per second while the traffic runs
  --p95-ms <n>            latency the tier must meet at the 95th percentile (default 1500)
  --payload-kb <n>        size of a request (default: the measured request's size)
  --hours-per-day <n>     hours a day the traffic runs, 0.1-24 (default 24)
  --upload-share <0..1>   share of the requests that arrive as S3 uploads (default 0)
  --gpu-instance <type>   GPU instance type (default: the infra configuration's, g4dn.xlarge)
  --region <region>       price table region (default us-east-1)
  --prices <file>         price table to use instead of scripts/plan/prices-<region>.json
  --results <dir>         measured figures (default bench/results)
  --svg <file>            write the monthly cost chart (both tiers, 0.1 to 1000 requests/s)
  --write <file>          write the planned configuration, e.g. deploy/planned.json
  --json                  print the plan as JSON instead of a table`;

/** What a run of the command gives back. */
export interface PlanCliResult {
  /** 0: planned; 1: the plan could not be made (missing measurements, bad price file); 2: bad arguments. */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A bad argument: the message is shown with the help. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads a number option within [min, max], or throws a {@link UsageError} naming it. */
function numberOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${String(value)}"`);
  return n;
}

/**
 * Runs `npm run plan` with `args` (without the leading `--`).
 *
 * @example
 * ```ts
 * const { exitCode, stdout } = runPlanCli(['--task', 'image/ocr', '--rps', '20']);
 * ```
 */
export function runPlanCli(args: readonly string[]): PlanCliResult {
  try {
    return { exitCode: 0, stdout: plan(args), stderr: '' };
  } catch (error) {
    if (error instanceof UsageError)
      return { exitCode: 2, stdout: '', stderr: `plan: ${error.message}\n\n${PLAN_HELP}\n` };
    return { exitCode: 1, stdout: '', stderr: `plan: ${(error as Error).message}\n` };
  }
}

function plan(args: readonly string[]): string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        task: { type: 'string' },
        rps: { type: 'string' },
        'p95-ms': { type: 'string' },
        'payload-kb': { type: 'string' },
        'hours-per-day': { type: 'string' },
        'upload-share': { type: 'string' },
        'gpu-instance': { type: 'string' },
        region: { type: 'string' },
        prices: { type: 'string' },
        results: { type: 'string' },
        svg: { type: 'string' },
        write: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return `${PLAN_HELP}\n`;
  const task = values.task;
  if (typeof task !== 'string') throw new UsageError('--task is required');
  if (!(task in TASK_DESCRIPTORS))
    throw new UsageError(`unknown task "${task}"; valid: ${Object.keys(TASK_DESCRIPTORS).join(', ')}`);
  if (values.rps === undefined) throw new UsageError('--rps is required');
  const rps = numberOption(values.rps, 'rps', 0, 0.001, 100_000);
  const region = typeof values.region === 'string' ? values.region : 'us-east-1';
  const string = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);

  const prices = loadPrices(resolve(string('prices') ?? defaultPriceFile(region)));
  const measurements = readMeasurements(task, resolve(string('results') ?? 'bench/results'));
  // The GPU instance type the infra configuration gives a GPU tier that names none.
  const gpuDefaults = parseConfig(mergeOverDefaults({ tasks: { image: { gpu: {} } } })).tasks.image?.gpu;
  const inputs: PlanInputs = {
    task,
    rps,
    p95Ms: numberOption(values['p95-ms'], 'p95-ms', 1500, 1, 900_000),
    payloadKb: numberOption(
      values['payload-kb'],
      'payload-kb',
      Math.ceil(measurements.requestBytes / 1024),
      0.001,
      10_240,
    ),
    hoursPerDay: numberOption(values['hours-per-day'], 'hours-per-day', 24, 0.1, 24),
    uploadShare: numberOption(values['upload-share'], 'upload-share', 0, 0, 1),
    gpuInstanceType: string('gpu-instance') ?? gpuDefaults?.instanceType ?? 'g4dn.xlarge',
    natGateways: DEFAULT_CONFIG.gpuNetwork.natGateways,
    logRetentionDays: DEFAULT_CONFIG.monitoring.logRetentionDays,
    incomingExpirationDays: DEFAULT_CONFIG.storage.uploads.incomingExpirationDays,
    resultsExpirationDays: DEFAULT_CONFIG.storage.uploads.resultsExpirationDays,
  };
  const planned = planTask(inputs, measurements, prices);
  const breakEven = breakEvenRps((r) => {
    const p = planTask({ ...inputs, rps: r }, measurements, prices);
    // A Lambda tier that misses the p95 is no alternative, whatever it costs.
    return { lambda: p.lambda.chosen ? p.lambda.monthly : Number.POSITIVE_INFINITY, gpu: p.gpu.monthly };
  });
  const sources = [
    ...measurements.sources,
    `payload: ${string('payload-kb') ? 'given' : `the measured request, ${measurements.requestBytes} bytes`}`,
  ];
  const written: string[] = [];
  const svgFile = string('svg');
  if (svgFile) {
    const points = costCurve(inputs, measurements, prices, logRates(0.1, 1000, 81));
    const svg = costChart(points, {
      title: `${task}: monthly cost by rate (p95 <= ${inputs.p95Ms} ms, ${inputs.hoursPerDay} h a day)`,
      plannedRps: rps,
      ...(breakEven !== undefined && { breakEvenRps: breakEven }),
      footnote: `Lambda latencies: bench/results/lambda-memory.json; prices: ${prices.region} list, ${prices.asOf}; GPU: ${inputs.gpuInstanceType}, throughput ${planned.gpu.throughput.measured ? 'measured' : 'assumed'}`,
    });
    mkdirSync(dirname(resolve(svgFile)), { recursive: true });
    writeFileSync(resolve(svgFile), svg);
    written.push(`chart written to ${svgFile}`);
  }
  const configFile = string('write');
  if (configFile) {
    mkdirSync(dirname(resolve(configFile)), { recursive: true });
    writeFileSync(resolve(configFile), `${JSON.stringify(plannedConfig(planned, region), null, 2)}\n`);
    written.push(`configuration written to ${configFile}: npx cdk deploy -c inferletConfig=${configFile}`);
  }
  if (values.json)
    return `${JSON.stringify(
      {
        plan: planned,
        breakEvenRps: breakEven ?? null,
        sources,
        prices: { region: prices.region, asOf: prices.asOf, source: prices.source },
        written,
      },
      null,
      2,
    )}\n`;
  return `${[formatPlan(planned, prices, sources, breakEven), ...written].join('\n')}\n`;
}
