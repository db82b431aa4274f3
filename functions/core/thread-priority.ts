/**
 * The server's event loop before its inference threads. On a host with few cores, onnxruntime's pool
 * threads (and the libuv workers that call `session.run`) take every core while a burst of requests waits;
 * the event loop, which accepts connections, refuses overflow with 503 and answers health probes, then
 * gets a share like any other thread and each of those answers waits hundreds of milliseconds. Linux keeps
 * a nice value per thread, so every thread of this process but the main one is lowered (raising a nice value
 * needs no privilege): the event loop runs whenever it has work, inference takes the rest of the CPU, and
 * when the loop is idle inference runs as fast as before.
 *
 * Threads appear later (a session's pool when a model loads, libuv workers on first use), so
 * {@link ThreadPriority.lower} is called again after each load and on a slow timer. Elsewhere than on
 * Linux, `/proc/self/task` does not exist and nothing is done.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Keeps every thread of this process but the main one at a given nice value.
 *
 * @example
 * ```ts
 * const threads = new ThreadPriority(settings.INFERENCE_NICE).keepLowered(1000);
 * await loadModels();
 * threads.lower(); // the session's pool threads, at once rather than at the next tick
 * ```
 */
export class ThreadPriority {
  readonly #nice: number;
  readonly #lowered = new Set<number>();
  #timer: NodeJS.Timeout | undefined;

  /**
   * `nice`: the value given to every thread but the main one (1-19; 0 leaves them as they are).
   *
   * @throws {RangeError} when `nice` is not an integer from 0 to 19.
   */
  constructor(nice: number) {
    if (!Number.isInteger(nice) || nice < 0 || nice > 19)
      throw new RangeError(`nice must be an integer from 0 to 19 (got ${nice})`);
    this.#nice = nice;
  }

  /** Lowers the threads not lowered yet; returns how many were. Threads that ended meanwhile are skipped. */
  lower(): number {
    if (this.#nice === 0) return 0;
    let tids: number[];
    try {
      tids = readdirSync('/proc/self/task').map(Number);
    } catch {
      return 0;
    }
    let count = 0;
    for (const tid of tids) {
      if (tid === process.pid || this.#lowered.has(tid)) continue;
      try {
        setPriority(tid, this.#nice);
        this.#lowered.add(tid);
        count++;
      } catch {
        // The thread ended between the listing and the call.
      }
    }
    return count;
  }

  /** Calls {@link lower} now and every `intervalMs` (the timer does not keep the process alive). */
  keepLowered(intervalMs = 5000): this {
    this.lower();
    this.#timer ??= setInterval(() => this.lower(), intervalMs).unref();
    return this;
  }

  /** Stops the timer of {@link keepLowered}; threads lowered stay lowered (raising them needs privilege). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
