import { expect } from 'vitest';
import { InferletError, toHttpError } from '../../functions/core/errors.ts';

/**
 * The seed every fuzz file runs with, so a run is repeatable; fast-check prints the seed and the path of a
 * failing case, which `FUZZ_SEED` and `FUZZ_RUNS` replay or widen.
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261127);

/** Runs per property: `FUZZ_RUNS`, else `runs` (sized so each file takes a few seconds on 2 busy cores). */
export function fuzzRuns(runs: number): number {
  return Number(process.env.FUZZ_RUNS ?? runs);
}

/**
 * Whether a thrown value is one of the project's client errors: an {@link InferletError} whose status
 * (as the edge maps it) is 4xx. A TypeError, a RangeError or a 5xx here is a defect of the parser.
 */
export function isClientError(error: unknown): boolean {
  const { status } = toHttpError(error);
  return error instanceof InferletError && status >= 400 && status < 500;
}

/** Fails the property with the offending error itself, so the report says what was thrown. */
export function expectClientError(error: unknown): void {
  if (!isClientError(error)) {
    expect.fail(`threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
}

/** Runs `parse`, returning its result or `undefined` when it refused with a client error. */
export function resultOrRefusal<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    expectClientError(error);
    return undefined;
  }
}

/** As {@link resultOrRefusal}, for a parser that answers with a promise. */
export async function resultOrRefusalAsync<T>(parse: () => Promise<T>): Promise<T | undefined> {
  try {
    return await parse();
  } catch (error) {
    expectClientError(error);
    return undefined;
  }
}

/** Milliseconds `work` took, for a bound on a synchronous parser (fast-check's `timeout` covers async ones). */
export function elapsedMs(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}
