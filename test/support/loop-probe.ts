/**
 * Measures how long a server keeps its health probes waiting while something else happens: the visible
 * effect of a blocked event loop. Probes go one after another (the next ~`intervalMs` after the previous
 * answer), so a probe sent while the server's loop is blocked waits until it is free again, and the
 * longest probe is about the longest block, give or take one interval.
 *
 * Run the server in another process (`startLocalServer`, or any child): a server in the test's own process
 * blocks the probe's timers too, and the probe then sees less than the block. The action should not do
 * heavy synchronous work of its own (building a huge body before the call is fine: do it before
 * {@link probeDuring}), as the probe's answers are read on the test's loop.
 */

/** What the probes saw. */
export interface ProbeReport {
  /** Probes that got an answer. */
  readonly probes: number;
  /** Longest time from sending a probe to its full answer, in ms. */
  readonly maxMs: number;
  /** Median probe time, in ms. */
  readonly medianMs: number;
  /** Probes that failed (a network error, or a status other than 200), with what happened. */
  readonly failures: readonly string[];
}

/** Options of {@link probeDuring}. */
export interface ProbeOptions {
  /** Path probed; default `/v2/health/live`. */
  readonly path?: string;
  /** Pause between one probe's answer and the next probe, in ms; default 20. */
  readonly intervalMs?: number;
  /** Probes sent (and answered) before the action starts, so the connection is open; default 3. */
  readonly warmProbes?: number;
}

/**
 * Runs `action` while probing `baseUrl` + `path` every ~20 ms, and returns the action's result with the
 * probe report. Probing starts before the action and stops once the action has settled and the probe in
 * flight has answered. A failing action fails the call (after the probes stop).
 *
 * @example
 * ```ts
 * const { result, probe } = await probeDuring(server.url, () => fetch(`${server.url}/v1/text/classify`, big));
 * expect(result.status).toBe(413);
 * expect(probe.maxMs).toBeLessThan(250);
 * ```
 */
export async function probeDuring<T>(
  baseUrl: string,
  action: () => Promise<T>,
  options: ProbeOptions = {},
): Promise<{ result: T; probe: ProbeReport }> {
  const url = `${baseUrl}${options.path ?? '/v2/health/live'}`;
  const interval = options.intervalMs ?? 20;
  const latencies: number[] = [];
  const failures: string[] = [];

  const probeOnce = async (): Promise<void> => {
    const sent = performance.now();
    try {
      const response = await fetch(url);
      // The whole answer: a server that sends headers and then blocks still keeps the prober waiting.
      await response.arrayBuffer();
      if (response.status !== 200) failures.push(`status ${response.status}`);
      else latencies.push(performance.now() - sent);
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
    }
  };

  for (let i = 0; i < (options.warmProbes ?? 3); i++) await probeOnce();
  // The warm-up opened the connection; only probes during the action count.
  latencies.length = 0;
  failures.length = 0;

  let settled = false;
  const probing = (async () => {
    while (!settled) {
      await probeOnce();
      if (!settled) await new Promise((resolve) => setTimeout(resolve, interval));
    }
  })();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await action() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  settled = true;
  await probing;
  if (!outcome.ok) throw outcome.error;

  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    result: outcome.value,
    probe: {
      probes: sorted.length,
      maxMs: sorted.at(-1) ?? 0,
      medianMs: sorted[Math.floor(sorted.length / 2)] ?? 0,
      failures,
    },
  };
}
