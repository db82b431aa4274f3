import { describe, expect, it } from 'vitest';
import { gbSeconds, onDemandCost, provisionedCost } from '../../scripts/plan/lambda-cost.ts';

const PRICES = {
  perGbSecond: 0.0000166667,
  perMillionRequests: 0.2,
  provisioned: { perGbSecondProvisioned: 0.0000041667, perGbSecondDuration: 0.0000097222 },
};

describe('Lambda GB-seconds and their bill', () => {
  it('multiplies requests, billed seconds and gigabytes', () => {
    expect(gbSeconds(1_000_000, 100, 1024)).toBeCloseTo(100_000, 6);
    expect(gbSeconds(1000, 250, 2048)).toBeCloseTo(500, 6);
  });

  it('bills each request by the millisecond, rounded up', () => {
    expect(gbSeconds(1000, 1.2, 1024)).toBeCloseTo(2, 10);
    expect(gbSeconds(1000, 2, 1024)).toBeCloseTo(2, 10);
  });

  it('itemises on demand as requests and duration', () => {
    const bill = onDemandCost(10_000_000, 100, 1024, PRICES);

    expect(bill.requests).toBeCloseTo(2, 10);
    expect(bill.duration).toBeCloseTo(1_000_000 * 0.0000166667, 8);
    expect(bill.provisioned).toBe(0);
    expect(bill.total).toBeCloseTo(bill.requests + bill.duration, 10);
  });

  it('charges provisioned environments for every hour, used or not', () => {
    const idle = provisionedCost(0, 100, 1024, 2, 730, PRICES);

    expect(idle.provisioned).toBeCloseTo(2 * 730 * 3600 * 0.0000041667, 6);
    expect(idle.total).toBeCloseTo(idle.provisioned, 10);
  });

  it('makes provisioned concurrency pay only above 60 % utilisation at these prices', () => {
    // One 1 GB environment for an hour, busy `utilisation` of it: on demand pays 16.67 per busy GB-s,
    // provisioned 4.17 per GB-s plus 9.72 per busy GB-s, equal at 4.17 / (16.67 - 9.72) = 0.6.
    const cost = (utilisation: number) => {
      const requests = 3600 * utilisation * 10; // 100 ms requests
      return {
        onDemand: onDemandCost(requests, 100, 1024, { ...PRICES, perMillionRequests: 0 }).total,
        provisioned: provisionedCost(requests, 100, 1024, 1, 1, { ...PRICES, perMillionRequests: 0 }).total,
      };
    };

    expect(cost(0.5).provisioned).toBeGreaterThan(cost(0.5).onDemand);
    expect(cost(0.7).provisioned).toBeLessThan(cost(0.7).onDemand);
    expect(cost(0.6).provisioned).toBeCloseTo(cost(0.6).onDemand, 3);
  });
});
