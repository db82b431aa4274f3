/**
 * Admission control: per task, a limit on runs at once and a queue bounded by time, not by length. A request
 * is accepted when the wait it can expect, estimated from the task's recent service times, is within the
 * configured maximum; otherwise it is refused at once ({@link OverloadedError}, 503 with `Retry-After`), so a
 * client hears "not now" in milliseconds instead of timing out while the server keeps working for it.
 *
 * It knows nothing of HTTP: the service calls {@link AdmissionControl.admit}, the edge maps the error.
 */
import { OverloadedError } from './errors.ts';

/** Settings of {@link AdmissionControl}. */
export interface AdmissionOptions {
  /** Runs of one task at once; the rest wait in its queue. */
  readonly concurrency: number;
  /** Longest an accepted request is expected to wait in the queue, in ms. */
  readonly maxWaitMs: number;
  /**
   * Weight of the newest service time in the moving average (0-1]. Default 0.2: about the last ten runs,
   * so the estimate follows a change of load within seconds but one slow request does not swing it.
   */
  readonly smoothing?: number;
  /** The clock, in ms; `performance.now` by default (tests pass their own). */
  readonly now?: () => number;
}

/** What {@link AdmissionControl.admit} reports of one request, for the metrics. */
export interface AdmissionEvent {
  readonly task: string;
  /** Requests of the task waiting in its queue when this one arrived. */
  readonly queueDepth: number;
  /** Whether it was refused. */
  readonly shed: boolean;
  /** How long it waited before its run started (accepted requests), in ms. */
  readonly queueWaitMs?: number;
}

/** Options of one {@link AdmissionControl.admit} call. */
export interface AdmitOptions {
  /**
   * Never refuse, only queue. For work that waits in a queue of its own already (an uploaded file's SQS
   * message, bounded by the consumer's concurrency): refusing it would only send it round again.
   */
  readonly neverShed?: boolean;
}

/** A task's state: runs under way, the queue and the moving average of its service time. */
class TaskGate {
  running = 0;
  readonly queue: (() => void)[] = [];
  /** Moving average of recent service times (ms), or undefined before the first run ends. */
  serviceMs: number | undefined;
}

/**
 * Concurrency limit and time-bounded queue per task.
 *
 * The expected wait of the k-th request in a queue served `c` at a time, each run taking about `S` ms, is
 * `ceil(k / c) × S`: the queue moves forward `c` requests per service time. A request is accepted when that
 * is at most `maxWaitMs`. Before the first run of a task has ended nothing is measured, and the queue is
 * held to `c` requests (one service time).
 *
 * @example
 * ```ts
 * const admission = new AdmissionControl({ concurrency: 4, maxWaitMs: 10_000 });
 * const result = await admission.admit('image/ocr', () => pipeline.run(input)); // or OverloadedError
 * ```
 */
export class AdmissionControl {
  private readonly gates = new Map<string, TaskGate>();
  private readonly now: () => number;
  private readonly smoothing: number;
  private readonly listeners: ((event: AdmissionEvent) => void)[] = [];

  constructor(readonly options: AdmissionOptions) {
    if (!(options.concurrency >= 1) || !(options.maxWaitMs >= 0)) {
      throw new RangeError('admission needs concurrency >= 1 and maxWaitMs >= 0');
    }
    this.now = options.now ?? (() => performance.now());
    this.smoothing = options.smoothing ?? 0.2;
  }

  /** Calls `listener` with each admission decision (accepted ones when their run starts). */
  onEvent(listener: (event: AdmissionEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Runs and queued requests of a task now, and its estimated service time (ms). */
  state(task: string): { running: number; queued: number; serviceMs: number | undefined } {
    const gate = this.gates.get(task);
    return { running: gate?.running ?? 0, queued: gate?.queue.length ?? 0, serviceMs: gate?.serviceMs };
  }

  /**
   * Runs `work` now, after a wait in the task's queue, or not at all.
   *
   * @throws {OverloadedError} when the wait this request can expect exceeds `maxWaitMs`; `work` is not called.
   */
  async admit<T>(task: string, work: () => Promise<T>, options: AdmitOptions = {}): Promise<T> {
    const gate = this.gate(task);
    const { concurrency } = this.options;
    const queueDepth = gate.queue.length;
    const arrived = this.now();
    if (gate.running >= concurrency || queueDepth > 0) {
      const position = queueDepth + 1;
      const expectedMs = this.expectedWaitMs(gate, position);
      if (!options.neverShed && expectedMs > this.options.maxWaitMs) {
        this.emit({ task, queueDepth, shed: true });
        throw new OverloadedError(
          `too many ${task} requests at once: this one would wait about ${Math.round(expectedMs / 1000)} s; try again later`,
          { retryAfterSeconds: this.retryAfterSeconds(gate, position) },
        );
      }
      // The slot is handed over by the run that ends (see below), already counted in `running`.
      await new Promise<void>((start) => gate.queue.push(start));
    } else {
      gate.running++;
    }
    const started = this.now();
    this.emit({ task, queueDepth, shed: false, queueWaitMs: started - arrived });
    try {
      return await work();
    } finally {
      const tookMs = this.now() - started;
      gate.serviceMs =
        gate.serviceMs === undefined ? tookMs : gate.serviceMs + this.smoothing * (tookMs - gate.serviceMs);
      // The slot passes straight to the oldest waiting request, so no newcomer can take it in between.
      const next = gate.queue.shift();
      if (next) next();
      else gate.running--;
    }
  }

  /** Expected wait (ms) of the request at `position` (1-based) in the queue; Infinity when unmeasured. */
  private expectedWaitMs(gate: TaskGate, position: number): number {
    const { concurrency } = this.options;
    if (gate.serviceMs === undefined) return position <= concurrency ? 0 : Number.POSITIVE_INFINITY;
    return Math.ceil(position / concurrency) * gate.serviceMs;
  }

  /**
   * When a refused request may be accepted: once the queue has moved forward enough that its position
   * would be waited out within `maxWaitMs`; at least 1 s (the header's unit).
   */
  private retryAfterSeconds(gate: TaskGate, position: number): number {
    const serviceMs = gate.serviceMs ?? 1000;
    const { concurrency, maxWaitMs } = this.options;
    const acceptable = Math.max(0, Math.floor(maxWaitMs / serviceMs) * concurrency);
    const excessMs = (Math.max(0, position - acceptable) / concurrency) * serviceMs;
    return Math.max(1, Math.ceil(excessMs / 1000));
  }

  private gate(task: string): TaskGate {
    let gate = this.gates.get(task);
    if (!gate) {
      gate = new TaskGate();
      this.gates.set(task, gate);
    }
    return gate;
  }

  private emit(event: AdmissionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
