import { describe, expect, it } from 'vitest';
import { gpuThroughput, instancesNeeded } from '../../scripts/plan/gpu.ts';
import type { TaskMeasurements } from '../../scripts/plan/measurements.ts';
import { breakEvenRps, type PlanInputs, planTask, sharedCost } from '../../scripts/plan/plan.ts';
import type { PriceTable } from '../../scripts/plan/prices.ts';

/** Round prices, so the expected figures can be worked out by hand. */
const PRICES: PriceTable = {
  region: 'test-region-1',
  currency: 'USD',
  asOf: '2026-01-01',
  source: 'round numbers for tests',
  lambda: {
    perGbSecond: 0.00001,
    perMillionRequests: 0.2,
    provisioned: { perGbSecondProvisioned: 0.000004, perGbSecondDuration: 0.000008 },
  },
  apiGateway: { httpApiPerMillionRequests: 1, meteredKb: 512 },
  s3: { standardPerGbMonth: 0.02, putPerThousand: 0.005, getPerThousand: 0.0004 },
  sqs: { perMillionRequests: 0.4 },
  cloudWatch: {
    metricPerMonth: 0.3,
    alarmPerMonth: 0.1,
    dashboardPerMonth: 3,
    logsIngestPerGb: 0.5,
    logsStoragePerGbMonth: 0.03,
  },
  ec2: { onDemandPerHour: { 'g4dn.xlarge': 0.5 }, gp3PerGbMonth: 0.08 },
  natGateway: { perHour: 0.045, perGbProcessed: 0.045 },
  alb: { perHour: 0.0225, perLcuHour: 0.008 },
};

/** Three memory sizes: the smallest slow, the largest fast. */
const MEASURED: TaskMeasurements = {
  task: 'image/ocr',
  lambda: [
    { vcpu: 0.5, memoryMb: 885, warmP50Ms: 900, warmP95Ms: 1400, coldStartMs: 3000 },
    { vcpu: 1, memoryMb: 1769, warmP50Ms: 300, warmP95Ms: 700, coldStartMs: 1500 },
    { vcpu: 2, memoryMb: 3538, warmP50Ms: 200, warmP95Ms: 350, coldStartMs: 1200 },
  ],
  modelBytes: 30 * 1024 ** 2,
  modelFiles: 8,
  requestBytes: 20_000,
  sources: ['fixture'],
};

const INPUTS: PlanInputs = {
  task: 'image/ocr',
  rps: 20,
  p95Ms: 1000,
  payloadKb: 20,
  hoursPerDay: 24,
  uploadShare: 0,
  gpuInstanceType: 'g4dn.xlarge',
  natGateways: 1,
  logRetentionDays: 30,
  incomingExpirationDays: 7,
  resultsExpirationDays: 365,
};

describe('the Lambda tier of a plan', () => {
  it('takes the cheapest memory size that meets the p95', () => {
    const plan = planTask(INPUTS, MEASURED, PRICES);

    // 885 MB misses a 1000 ms p95 (1400 ms); 1769 MB meets it for less than 3538 MB.
    expect(plan.lambda.candidates.map((c) => c.mode)).toEqual(['misses-p95', 'on-demand', 'on-demand']);
    expect(plan.lambda.chosen?.option.memoryMb).toBe(1769);
  });

  it('moves to a larger size when the p95 asks for it', () => {
    const plan = planTask({ ...INPUTS, p95Ms: 500 }, MEASURED, PRICES);

    expect(plan.lambda.chosen?.option.memoryMb).toBe(3538);
  });

  it('costs GB-seconds of the chosen size: 20 requests/s of 300 ms at 1769 MB', () => {
    const plan = planTask(INPUTS, MEASURED, PRICES);
    const requests = 20 * 3600 * 730;
    const coldShare = plan.lambda.chosen?.coldShare ?? 0;
    const billedMs = Math.ceil(300 + coldShare * 1500);

    expect(plan.lambda.chosen?.bill.duration).toBeCloseTo(
      requests * (billedMs / 1000) * (1769 / 1024) * 0.00001,
      6,
    );
    expect(plan.lambda.chosen?.bill.requests).toBeCloseTo((requests / 1e6) * 0.2, 8);
    expect(plan.lambda.chosen?.meanConcurrency).toBeCloseTo(6, 10);
  });

  it('provisions concurrency where cold starts break the p95 on demand but the warm p95 meets it', () => {
    // One request in 10 minutes: nearly every request is cold (1500 ms) against a 1000 ms p95.
    const plan = planTask({ ...INPUTS, rps: 1 / 600 }, MEASURED, PRICES);

    expect(plan.lambda.chosen?.coldShare).toBeGreaterThan(0.3);
    expect(plan.lambda.chosen?.mode).toBe('provisioned');
    expect(plan.lambda.chosen?.environments).toBe(1);
  });

  it('has no Lambda choice when no size meets the p95, and names the GPU tier cheaper', () => {
    const plan = planTask({ ...INPUTS, p95Ms: 300 }, MEASURED, PRICES);

    expect(plan.lambda.chosen).toBeUndefined();
    expect(plan.cheaper).toBe('gpu');
  });
});

describe('the GPU tier of a plan', () => {
  it('sizes instances at 70 % of their throughput, one at least while it answers HTTP', () => {
    expect(instancesNeeded(20, 8, 1)).toBe(4);
    expect(instancesNeeded(0.1, 8, 1)).toBe(1);
    expect(instancesNeeded(0, 8, 0)).toBe(0);
  });

  it('labels throughput assumed until a measurement names the instance type', () => {
    expect(gpuThroughput('image/ocr', 'g4dn.xlarge')).toEqual({ requestsPerSecond: 8, measured: false });
    expect(gpuThroughput('image/ocr', 'g5.xlarge').requestsPerSecond).toBe(16);
    expect(gpuThroughput('image/ocr', 'g4dn.xlarge', { 'g4dn.xlarge': 30 })).toEqual({
      requestsPerSecond: 30,
      measured: true,
    });
  });

  it('keeps one instance all month for HTTP and the rest only in the hours with traffic', () => {
    const plan = planTask({ ...INPUTS, hoursPerDay: 12 }, MEASURED, PRICES);

    // 4 instances: 1 x 730 h + 3 x 365 h.
    expect(plan.gpu.bill.instances).toBe(4);
    expect(plan.gpu.bill.instanceHours).toBeCloseTo(730 + 3 * 365, 8);
    expect(plan.gpu.bill.ec2).toBeCloseTo((730 + 3 * 365) * 0.5, 6);
  });

  it('lets an upload-only worker scale to zero', () => {
    const plan = planTask({ ...INPUTS, rps: 1, hoursPerDay: 6, uploadShare: 1 }, MEASURED, PRICES);

    expect(plan.gpu.bill.instanceHours).toBeCloseTo(730 / 4, 8);
  });
});

describe('the costs both tiers share', () => {
  it('meters API Gateway requests by 512 KB', () => {
    const small = sharedCost({ ...INPUTS, payloadKb: 300 }, MEASURED, 0, PRICES);
    const large = sharedCost({ ...INPUTS, payloadKb: 600 }, MEASURED, 0, PRICES);
    const requests = 20 * 3600 * 730;

    expect(small.apiGateway).toBeCloseTo(requests / 1e6, 6);
    expect(large.apiGateway).toBeCloseTo((2 * requests) / 1e6, 6);
  });

  it('moves uploads from API Gateway to S3 and SQS', () => {
    const http = sharedCost(INPUTS, MEASURED, 0, PRICES);
    const uploads = sharedCost({ ...INPUTS, uploadShare: 1 }, MEASURED, 0, PRICES);

    expect(uploads.apiGateway).toBe(0);
    expect(uploads.sqs).toBeCloseTo(((20 * 3600 * 730 * 3) / 1e6) * 0.4, 6);
    expect(uploads.s3).toBeGreaterThan(http.s3);
  });
});

describe('the break-even rate', () => {
  it('finds where a flat GPU bill meets a Lambda bill that grows with the rate', () => {
    const rate = breakEvenRps((rps) => ({ lambda: 10 * rps, gpu: 500 }));

    expect(rate).toBeCloseTo(50, 4);
  });

  it('finds the first crossing of a stepped GPU bill', () => {
    // GPU: 500 a month per 40 requests/s; Lambda 20 per request/s: equal at 25.
    const rate = breakEvenRps((rps) => ({ lambda: 20 * rps, gpu: 500 * Math.ceil(rps / 40) }));

    expect(rate).toBeCloseTo(25, 4);
  });

  it('is undefined where Lambda stays cheaper over the whole range', () => {
    expect(breakEvenRps((rps) => ({ lambda: rps, gpu: 500 + 10 * rps }))).toBeUndefined();
  });
});

describe('provisioned concurrency with part-time traffic', () => {
  it('is paid all month, as the configuration keeps it', () => {
    const plan = planTask({ ...INPUTS, hoursPerDay: 8 }, MEASURED, PRICES);
    const candidate = plan.lambda.candidates[1];

    expect(candidate?.provisioned.provisioned).toBeCloseTo(
      (candidate?.environments ?? 0) * (1769 / 1024) * 730 * 3600 * 0.000004,
      6,
    );
  });
});
