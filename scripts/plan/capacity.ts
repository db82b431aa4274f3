/**
 * How many Lambda environments a rate needs, and how many of its requests meet a cold start. Pure
 * arithmetic on measured latencies; the assumptions it takes are parameters.
 */
import { COLD_SHARE_FOR_P95, HOURS_PER_MONTH } from './assumptions.ts';

/** Requests in a month at `rps` for `hoursPerDay` hours a day (AWS's 730-hour month). */
export function monthlyRequests(rps: number, hoursPerDay: number): number {
  return rps * 3600 * HOURS_PER_MONTH * (hoursPerDay / 24);
}

/**
 * Little's law: the mean number of requests in service is the arrival rate times the mean time in service.
 *
 * @example
 * ```ts
 * concurrency(20, 150); // 3 requests in flight on average at 20 requests/s of 150 ms
 * ```
 */
export function concurrency(rps: number, latencyMs: number): number {
  return rps * (latencyMs / 1000);
}

/**
 * The smallest n with P(N <= n) >= q for N ~ Poisson(mean): with Poisson arrivals, the number of requests in
 * service at once is Poisson distributed around Little's mean (an M/G/infinity queue), whatever the
 * latency's distribution. A normal approximation above a mean of 500, where the terms underflow.
 */
export function poissonQuantile(mean: number, q: number): number {
  if (mean <= 0) return 0;
  if (mean > 500) return Math.ceil(mean + normalQuantile(q) * Math.sqrt(mean) - 0.5);
  let term = Math.exp(-mean);
  let cdf = term;
  let n = 0;
  while (cdf < q) {
    n += 1;
    term *= mean / n;
    cdf += term;
  }
  return n;
}

/** The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472,
    2.50662827745924,
  ];
  const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
  const c = [
    -0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497,
    2.93816398269878,
  ];
  const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  if (p < 0.02425) {
    const x = Math.sqrt(-2 * Math.log(p));
    return poly(c, x) / (poly(d, x) * x + 1);
  }
  if (p > 1 - 0.02425) {
    const x = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, x) / (poly(d, x) * x + 1);
  }
  const x = p - 0.5;
  const r = x * x;
  return (poly(a, r) * x) / (poly(b, r) * r + 1);
}

/** Environments to keep for `rps` at `latencyMs`: the `quantile` of the concurrency, at least one. */
export function environmentsNeeded(rps: number, latencyMs: number, quantile: number): number {
  return Math.max(1, poissonQuantile(concurrency(rps, latencyMs), quantile));
}

/** What decides how often a request meets a cold start. */
export interface ColdStartInputs {
  readonly rps: number;
  /** Environments kept warm by the traffic. */
  readonly environments: number;
  /** Minutes an environment lives before Lambda recycles it. */
  readonly lifetimeMinutes: number;
  /** Idle minutes after which Lambda reclaims an environment. */
  readonly idleMinutes: number;
}

/**
 * The share of requests that start an environment: each environment is replaced once per lifetime, and
 * when the gap between requests outgrows the idle time (probability e^(-rps x idle) under Poisson arrivals)
 * the next request finds none.
 */
export function coldStartShare({ rps, environments, lifetimeMinutes, idleMinutes }: ColdStartInputs): number {
  if (rps <= 0) return 0;
  const recycled = environments / (lifetimeMinutes * 60) / rps;
  const afterIdle = Math.exp(-rps * idleMinutes * 60);
  return Math.min(1, recycled + afterIdle);
}

/**
 * The p95 of requests on Lambda: the warm p95 while cold starts are under {@link COLD_SHARE_FOR_P95} of the
 * requests, else the cold start itself (it then lies inside the slowest 5 %).
 */
export function lambdaP95(warmP95Ms: number, coldStartMs: number, coldShare: number): number {
  return coldShare < COLD_SHARE_FOR_P95 ? warmP95Ms : Math.max(warmP95Ms, coldStartMs);
}
