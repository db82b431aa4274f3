/**
 * The plan of one task's deployment: for the Lambda tier, the cheapest measured memory size that meets the
 * p95, the environments it needs and whether provisioned concurrency pays; for the GPU tier, the instances
 * for the rate; the month's cost of each with what both share (API Gateway, S3, SQS, CloudWatch), and the
 * rate where the two cost the same. Pure: measurements, prices and inputs in, numbers out.
 */
import {
  ALARMS_PER_TASK,
  CONCURRENCY_QUANTILE,
  CUSTOM_METRICS_PER_TASK,
  ENVIRONMENT_LIFETIME_MINUTES,
  HOURS_PER_MONTH,
  IDLE_RECLAIM_MINUTES,
  LOG_BYTES_PER_REQUEST,
  RESULT_RECORD_BYTES,
} from './assumptions.ts';
import { coldStartShare, concurrency, environmentsNeeded, lambdaP95, monthlyRequests } from './capacity.ts';
import { type GpuBill, type GpuThroughput, gpuCost, gpuThroughput } from './gpu.ts';
import { type LambdaBill, onDemandCost, provisionedCost } from './lambda-cost.ts';
import type { LambdaOption, TaskMeasurements } from './measurements.ts';
import type { PriceTable } from './prices.ts';

/** What a plan is asked for. */
export interface PlanInputs {
  readonly task: string;
  /** Requests per second while the traffic runs. */
  readonly rps: number;
  /** The p95 latency the tier must meet, in ms. */
  readonly p95Ms: number;
  /** Size of one request's payload (API Gateway meters by 512 KB; S3 stores uploads). */
  readonly payloadKb: number;
  /** Hours a day the traffic runs (0-24); the rest of the day has none. */
  readonly hoursPerDay: number;
  /** Share of the requests that arrive as S3 uploads instead of HTTP (0-1). */
  readonly uploadShare: number;
  readonly gpuInstanceType: string;
  readonly natGateways: number;
  readonly logRetentionDays: number;
  readonly incomingExpirationDays: number;
  readonly resultsExpirationDays: number;
}

/** One memory size of the Lambda tier, costed. */
export interface LambdaCandidate {
  readonly option: LambdaOption;
  /** Little's law: mean requests in service. */
  readonly meanConcurrency: number;
  /** Environments for the concurrency's 99th percentile. */
  readonly environments: number;
  readonly coldShare: number;
  /** The p95 on demand (cold starts included) and with provisioned concurrency (none). */
  readonly p95OnDemandMs: number;
  readonly onDemand: LambdaBill;
  readonly provisioned: LambdaBill;
  /** How this size would run: on demand, provisioned, or not at all (it misses the p95 either way). */
  readonly mode: 'on-demand' | 'provisioned' | 'misses-p95';
  /** Provisioned concurrency is cheaper than on demand at this size. */
  readonly provisionedPays: boolean;
  /** The Lambda bill in `mode` (on demand where it misses). */
  readonly bill: LambdaBill;
}

/** What both tiers pay for, itemised. */
export interface SharedBill {
  readonly apiGateway: number;
  readonly s3: number;
  readonly sqs: number;
  readonly cloudWatch: number;
  readonly total: number;
}

/** The plan of one task. */
export interface Plan {
  readonly inputs: PlanInputs;
  readonly monthlyRequests: number;
  readonly lambda: {
    readonly candidates: readonly LambdaCandidate[];
    /** The cheapest candidate that meets the p95; undefined where none does. */
    readonly chosen?: LambdaCandidate;
    readonly shared: SharedBill;
    /** The chosen (or, where none meets the p95, the fastest) candidate's bill plus the shared costs. */
    readonly monthly: number;
  };
  readonly gpu: {
    readonly instanceType: string;
    readonly throughput: GpuThroughput;
    readonly bill: GpuBill;
    readonly shared: SharedBill;
    readonly monthly: number;
  };
  /** The cheaper tier at this rate (Lambda only where a memory size meets the p95). */
  readonly cheaper: 'lambda' | 'gpu';
}

/** Costs one Lambda memory size at the inputs' rate. */
export function costLambdaOption(
  option: LambdaOption,
  inputs: PlanInputs,
  prices: PriceTable,
): LambdaCandidate {
  const requests = monthlyRequests(inputs.rps, inputs.hoursPerDay);
  const meanConcurrency = concurrency(inputs.rps, option.warmP50Ms);
  const environments = environmentsNeeded(inputs.rps, option.warmP50Ms, CONCURRENCY_QUANTILE);
  const coldShare = coldStartShare({
    rps: inputs.rps,
    environments,
    lifetimeMinutes: ENVIRONMENT_LIFETIME_MINUTES,
    idleMinutes: IDLE_RECLAIM_MINUTES,
  });
  const p95OnDemandMs = lambdaP95(option.warmP95Ms, option.coldStartMs, coldShare);
  // AWS bills the init phase of on-demand functions; a cold request lasts its cold start.
  const meanOnDemandMs = option.warmP50Ms + coldShare * option.coldStartMs;
  const onDemand = onDemandCost(requests, meanOnDemandMs, option.memoryMb, prices.lambda);
  // All month: the configuration's provisionedConcurrency is constant (no schedule), so it is paid in the
  // hours without traffic too.
  const provisionedHours = HOURS_PER_MONTH;
  const provisioned = provisionedCost(
    requests,
    option.warmP50Ms,
    option.memoryMb,
    environments,
    provisionedHours,
    prices.lambda,
  );
  const provisionedPays = provisioned.total < onDemand.total;
  const mode =
    p95OnDemandMs <= inputs.p95Ms
      ? provisionedPays
        ? 'provisioned'
        : 'on-demand'
      : option.warmP95Ms <= inputs.p95Ms
        ? 'provisioned'
        : 'misses-p95';
  const bill = mode === 'provisioned' ? provisioned : onDemand;
  return {
    option,
    meanConcurrency,
    environments,
    coldShare,
    p95OnDemandMs,
    onDemand,
    provisioned,
    mode,
    provisionedPays,
    bill,
  };
}

/**
 * API Gateway (HTTP requests, metered by 512 KB), S3 (uploads' PUT, GET and result PUT, their storage
 * in steady state, the models and the cold starts' model downloads), SQS (send, receive, delete per upload)
 * and CloudWatch (logs ingested and kept, custom metrics, alarms, the dashboard).
 */
export function sharedCost(
  inputs: PlanInputs,
  measurements: Pick<TaskMeasurements, 'modelBytes' | 'modelFiles'>,
  coldStartsPerMonth: number,
  prices: PriceTable,
): SharedBill {
  const requests = monthlyRequests(inputs.rps, inputs.hoursPerDay);
  const httpRequests = requests * (1 - inputs.uploadShare);
  const uploads = requests * inputs.uploadShare;
  const metered = Math.max(1, Math.ceil(inputs.payloadKb / prices.apiGateway.meteredKb));
  const apiGateway = (httpRequests * metered * prices.apiGateway.httpApiPerMillionRequests) / 1e6;
  const uploadsPerDay = uploads / (HOURS_PER_MONTH / 24);
  const storedGb =
    (uploadsPerDay *
      (inputs.payloadKb * 1024 * inputs.incomingExpirationDays +
        RESULT_RECORD_BYTES * inputs.resultsExpirationDays)) /
      1024 ** 3 +
    measurements.modelBytes / 1024 ** 3;
  const s3 =
    storedGb * prices.s3.standardPerGbMonth +
    ((uploads * 2) / 1000) * prices.s3.putPerThousand +
    ((uploads + coldStartsPerMonth * measurements.modelFiles) / 1000) * prices.s3.getPerThousand;
  const sqs = ((uploads * 3) / 1e6) * prices.sqs.perMillionRequests;
  const logGb = (requests * LOG_BYTES_PER_REQUEST) / 1024 ** 3;
  const cloudWatch =
    logGb * prices.cloudWatch.logsIngestPerGb +
    logGb * (inputs.logRetentionDays / 30) * prices.cloudWatch.logsStoragePerGbMonth +
    CUSTOM_METRICS_PER_TASK * prices.cloudWatch.metricPerMonth +
    ALARMS_PER_TASK * prices.cloudWatch.alarmPerMonth +
    prices.cloudWatch.dashboardPerMonth;
  return { apiGateway, s3, sqs, cloudWatch, total: apiGateway + s3 + sqs + cloudWatch };
}

/** Plans `inputs.task` from its measurements at the given prices. */
export function planTask(inputs: PlanInputs, measurements: TaskMeasurements, prices: PriceTable): Plan {
  const requests = monthlyRequests(inputs.rps, inputs.hoursPerDay);
  const candidates = measurements.lambda.map((option) => costLambdaOption(option, inputs, prices));
  const meeting = candidates.filter((c) => c.mode !== 'misses-p95');
  const chosen = meeting.reduce<LambdaCandidate | undefined>(
    (best, c) => (!best || c.bill.total < best.bill.total ? c : best),
    undefined,
  );
  const fallback = [...candidates].sort((a, b) => a.option.warmP95Ms - b.option.warmP95Ms)[0];
  const lambdaPick = chosen ?? fallback;
  if (!lambdaPick) throw new Error(`no Lambda measurements for ${inputs.task}`);
  const coldStarts = lambdaPick.mode === 'provisioned' ? 0 : requests * lambdaPick.coldShare;
  const lambdaShared = sharedCost(inputs, measurements, coldStarts, prices);

  const throughput = gpuThroughput(inputs.task, inputs.gpuInstanceType, measurements.gpuRps);
  // A service that answers HTTP keeps one instance; one that only works uploads may scale to zero.
  const minimum = inputs.uploadShare >= 1 ? 0 : 1;
  const gpuBill = gpuCost(
    {
      rps: inputs.rps,
      hoursPerDay: inputs.hoursPerDay,
      instanceType: inputs.gpuInstanceType,
      perInstanceRps: throughput.requestsPerSecond,
      minimum,
      payloadKb: inputs.payloadKb,
      natGateways: inputs.natGateways,
    },
    prices,
  );
  const gpuShared = sharedCost(inputs, measurements, 0, prices);
  const lambdaMonthly = lambdaPick.bill.total + lambdaShared.total;
  const gpuMonthly = gpuBill.total + gpuShared.total;
  return {
    inputs,
    monthlyRequests: requests,
    lambda: { candidates, ...(chosen && { chosen }), shared: lambdaShared, monthly: lambdaMonthly },
    gpu: {
      instanceType: inputs.gpuInstanceType,
      throughput,
      bill: gpuBill,
      shared: gpuShared,
      monthly: gpuMonthly,
    },
    cheaper: chosen && lambdaMonthly <= gpuMonthly ? 'lambda' : 'gpu',
  };
}

/** Monthly cost of both tiers at each rate, the rest of the inputs kept. */
export function costCurve(
  inputs: PlanInputs,
  measurements: TaskMeasurements,
  prices: PriceTable,
  rates: readonly number[],
): { rps: number; lambda: number; gpu: number; lambdaMeetsP95: boolean }[] {
  return rates.map((rps) => {
    const plan = planTask({ ...inputs, rps }, measurements, prices);
    return {
      rps,
      lambda: plan.lambda.monthly,
      gpu: plan.gpu.monthly,
      lambdaMeetsP95: Boolean(plan.lambda.chosen),
    };
  });
}

/** `count` rates spaced evenly on a log scale from `from` to `to`. */
export function logRates(from: number, to: number, count: number): number[] {
  const step = Math.log(to / from) / (count - 1);
  return Array.from({ length: count }, (_, i) => from * Math.exp(step * i));
}

/**
 * The lowest rate in [from, to] at which the GPU tier costs no more than the Lambda tier, found on a log
 * grid and refined by bisection; undefined where Lambda stays cheaper throughout.
 */
export function breakEvenRps(
  monthly: (rps: number) => { lambda: number; gpu: number },
  from = 0.01,
  to = 5000,
): number | undefined {
  const gpuWins = (rps: number) => {
    const m = monthly(rps);
    return m.gpu <= m.lambda;
  };
  if (gpuWins(from)) return from;
  const grid = logRates(from, to, 200);
  for (let i = 1; i < grid.length; i++) {
    if (!gpuWins(grid[i] as number)) continue;
    let low = grid[i - 1] as number;
    let high = grid[i] as number;
    for (let k = 0; k < 40; k++) {
      const mid = Math.sqrt(low * high);
      if (gpuWins(mid)) high = mid;
      else low = mid;
    }
    return high;
  }
  return undefined;
}
