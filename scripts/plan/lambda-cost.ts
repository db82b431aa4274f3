/** Lambda's bill for a month: GB-seconds of duration and requests, on demand or with provisioned concurrency. */
import type { PriceTable } from './prices.ts';

/**
 * GB-seconds of `requests` lasting `durationMs` each (billed by the millisecond, rounded up) at `memoryMb`.
 *
 * @example
 * ```ts
 * gbSeconds(1_000_000, 100, 1024); // 100000: a million 100 ms requests at 1 GB
 * ```
 */
export function gbSeconds(requests: number, durationMs: number, memoryMb: number): number {
  return requests * (Math.ceil(durationMs) / 1000) * (memoryMb / 1024);
}

/** The month's Lambda bill, split as AWS itemises it. */
export interface LambdaBill {
  readonly requests: number;
  readonly duration: number;
  /** Provisioned environments kept warm all month (0 on demand). */
  readonly provisioned: number;
  readonly total: number;
}

/** On demand: every request's duration (cold starts' init included, as AWS bills it) and its request fee. */
export function onDemandCost(
  requests: number,
  meanDurationMs: number,
  memoryMb: number,
  prices: PriceTable['lambda'],
): LambdaBill {
  const requestFee = (requests / 1e6) * prices.perMillionRequests;
  const duration = gbSeconds(requests, meanDurationMs, memoryMb) * prices.perGbSecond;
  return { requests: requestFee, duration, provisioned: 0, total: requestFee + duration };
}

/**
 * With `environments` provisioned for `hours` a month: each provisioned GB-second is paid whether used or
 * not, and the requests' duration at the lower provisioned rate.
 */
export function provisionedCost(
  requests: number,
  meanDurationMs: number,
  memoryMb: number,
  environments: number,
  hours: number,
  prices: PriceTable['lambda'],
): LambdaBill {
  const requestFee = (requests / 1e6) * prices.perMillionRequests;
  const duration = gbSeconds(requests, meanDurationMs, memoryMb) * prices.provisioned.perGbSecondDuration;
  const provisioned =
    environments * (memoryMb / 1024) * hours * 3600 * prices.provisioned.perGbSecondProvisioned;
  return { requests: requestFee, duration, provisioned, total: requestFee + duration + provisioned };
}
