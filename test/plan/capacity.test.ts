import { describe, expect, it } from 'vitest';
import {
  coldStartShare,
  concurrency,
  environmentsNeeded,
  lambdaP95,
  monthlyRequests,
  poissonQuantile,
} from '../../scripts/plan/capacity.ts';

describe("Little's law and the concurrency it implies", () => {
  it('gives the mean requests in flight as rate times latency', () => {
    expect(concurrency(20, 150)).toBeCloseTo(3, 10);
    expect(concurrency(200, 2)).toBeCloseTo(0.4, 10);
  });

  it('counts a month as AWS bills it: 730 hours, scaled by the hours a day with traffic', () => {
    expect(monthlyRequests(1, 24)).toBe(2_628_000);
    expect(monthlyRequests(10, 12)).toBe(13_140_000);
  });

  it('takes the Poisson quantile of the concurrency, as tables give it', () => {
    // P(N <= 3) = 0.981 and P(N <= 4) = 0.996 for a mean of 1.
    expect(poissonQuantile(1, 0.99)).toBe(4);
    expect(poissonQuantile(1, 0.98)).toBe(3);
    // Mean 10: P(N <= 17) = 0.986, P(N <= 18) = 0.9928.
    expect(poissonQuantile(10, 0.99)).toBe(18);
    expect(poissonQuantile(0, 0.99)).toBe(0);
  });

  it('joins the exact Poisson quantile and its normal approximation at a mean of 500', () => {
    const exact = poissonQuantile(499.99, 0.99);
    const approximated = poissonQuantile(500.01, 0.99);

    expect(Math.abs(approximated - exact)).toBeLessThanOrEqual(1);
    // 500 + 2.326 x sqrt(500) = 552.
    expect(approximated).toBe(552);
  });

  it('keeps at least one environment, and more than the mean for the tail', () => {
    expect(environmentsNeeded(0.01, 100, 0.99)).toBe(1);
    expect(environmentsNeeded(20, 150, 0.99)).toBe(poissonQuantile(3, 0.99));
    expect(environmentsNeeded(20, 150, 0.99)).toBeGreaterThan(3);
  });
});

describe('the share of requests that meet a cold start', () => {
  it('is the recycling of the environments over the requests at a steady rate', () => {
    // One environment replaced every 2 hours among 7200 requests; the idle term is e^-600.
    const share = coldStartShare({ rps: 1, environments: 1, lifetimeMinutes: 120, idleMinutes: 10 });

    expect(share).toBeCloseTo(1 / 7200, 12);
  });

  it('approaches every request when the gaps outgrow the idle time', () => {
    const rare = coldStartShare({ rps: 1 / 3600, environments: 1, lifetimeMinutes: 120, idleMinutes: 10 });
    const busy = coldStartShare({ rps: 100, environments: 20, lifetimeMinutes: 120, idleMinutes: 10 });

    expect(rare).toBeGreaterThan(0.8);
    expect(busy).toBeLessThan(0.0001);
  });

  it('puts the cold start into the p95 only once cold starts reach 5 % of the requests', () => {
    expect(lambdaP95(200, 1500, 0.049)).toBe(200);
    expect(lambdaP95(200, 1500, 0.05)).toBe(1500);
  });
});
