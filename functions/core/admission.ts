/**
 * Admission control: per task, a limit on runs at once and a queue bounded by time, not by length. A request
 * is accepted when the wait it can expect, estimated from the task's recent runs, is within the
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
   * Weight of the newest run's cost in the moving average (0-1]. Default 0.2: about the last ten runs,
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

/** A place in a task's queue, from {@link AdmissionControl.reserve}. */
export interface AdmissionTicket {
  /** Runs `work` once a slot is free (at once when one is). Once per ticket. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Gives the place up without running (the request failed before its run); no-op after `run`. */
  cancel(): void;
}

/** Options of one {@link AdmissionControl.admit} or {@link AdmissionControl.reserve} call. */
export interface AdmitOptions {
  /**
   * Never refuse, only queue. For work that waits in a queue of its own already (an uploaded file's SQS
   * message, bounded by the consumer's concurrency): refusing it would only send it round again.
   */
  readonly neverShed?: boolean;
}

/** A task's state: runs under way, the queue and the moving average of a run's cost. */
class TaskGate {
  running = 0;
  /** Requests given a place and not running yet: arriving (body being read) or waiting for a slot. */
  reserved = 0;
  /** Those ready to run, oldest first: each starts when given a slot. */
  readonly waiting: (() => void)[] = [];
  /**
   * Moving average of the cost of a run (ms), or undefined before the first run ends: the time it took
   * divided among the runs it shared the task's slots with (see {@link AdmissionControl}).
   */
  costMs: number | undefined;
  /** `∫ dt / running` while anything runs: each run's share of the wall clock so far. */
  private share = 0;
  private changed = 0;

  /** The share integral at `now`, to be called before `running` changes and when a run starts or ends. */
  shareAt(now: number): number {
    if (this.running > 0) this.share += (now - this.changed) / this.running;
    this.changed = now;
    return this.share;
  }
}

/**
 * Concurrency limit and time-bounded queue per task.
 *
 * A queue moves forward one request per run's *cost*: the time a run took divided among the runs it shared
 * the task's slots with, `∫ dt / running` over its run. On 2 CPU cores four OCR runs at once each take
 * about four times as long as one alone, so their cost is one run's time alone, and the queue moves at the
 * speed the machine really has; on hardware where runs do proceed in parallel, their cost falls by as
 * much. The k-th request in the queue is expected to wait `k × cost`, and is accepted when that is at most
 * `maxWaitMs`. Before the first run of a task has ended nothing is measured, and the queue is held to
 * `concurrency` requests.
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

  /** Runs and queued requests of a task now, and the moving average of a run's cost (ms). */
  state(task: string): { running: number; queued: number; costMs: number | undefined } {
    const gate = this.gates.get(task);
    return { running: gate?.running ?? 0, queued: gate?.reserved ?? 0, costMs: gate?.costMs };
  }

  /**
   * Runs `work` now, after a wait in the task's queue, or not at all: {@link reserve} and run at once.
   *
   * @throws {OverloadedError} when the wait this request can expect exceeds `maxWaitMs`; `work` is not called.
   */
  admit<T>(task: string, work: () => Promise<T>, options: AdmitOptions = {}): Promise<T> {
    try {
      return this.reserve(task, options).run(work);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Decides on a request as it arrives, before its body is read: a place in the task's queue, or a refusal.
   * The place counts in the wait of those behind it until the ticket runs its work or is cancelled; an HTTP
   * request holds one while its body arrives, so that a burst of requests is decided on as it comes in,
   * not after every body has been read.
   *
   * @throws {OverloadedError} when the wait this request can expect exceeds `maxWaitMs`.
   */
  reserve(task: string, options: AdmitOptions = {}): AdmissionTicket {
    const gate = this.gate(task);
    const { concurrency } = this.options;
    const queueDepth = Math.max(0, gate.running + gate.reserved - concurrency);
    const arrived = this.now();
    if (queueDepth > 0 || gate.running + gate.reserved >= concurrency) {
      const position = queueDepth + 1;
      const expectedMs = this.expectedWaitMs(gate, position);
      if (!options.neverShed && expectedMs > this.options.maxWaitMs) {
        this.emit({ task, queueDepth, shed: true });
        throw new OverloadedError(
          `too many ${task} requests at once: this one would wait about ${Math.round(expectedMs / 1000)} s; try again later`,
          { retryAfterSeconds: this.retryAfterSeconds(gate, position) },
        );
      }
    }
    gate.reserved++;
    let state: 'reserved' | 'used' = 'reserved';
    const release = () => {
      if (state !== 'reserved') return false;
      state = 'used';
      gate.reserved--;
      return true;
    };
    return {
      cancel: () => {
        // A place given up may be what the oldest waiting request needed.
        if (release()) this.startWaiting(gate);
      },
      run: async <T>(work: () => Promise<T>): Promise<T> => {
        if (state !== 'reserved') throw new Error('an admission ticket runs once');
        if (gate.running < concurrency && gate.waiting.length === 0) {
          release();
          gate.shareAt(this.now());
          gate.running++;
        } else {
          // The slot is handed over by the run that ends (startWaiting), already counted in `running`.
          await new Promise<void>((start) =>
            gate.waiting.push(() => {
              release();
              start();
            }),
          );
        }
        const started = this.now();
        const shareAtStart = gate.shareAt(started);
        this.emit({ task, queueDepth, shed: false, queueWaitMs: started - arrived });
        try {
          return await work();
        } finally {
          const costMs = gate.shareAt(this.now()) - shareAtStart;
          gate.costMs =
            gate.costMs === undefined ? costMs : gate.costMs + this.smoothing * (costMs - gate.costMs);
          gate.shareAt(this.now());
          gate.running--;
          this.startWaiting(gate);
        }
      },
    };
  }

  /** Gives free slots to the oldest requests ready and waiting, counting them in `running` at once. */
  private startWaiting(gate: TaskGate): void {
    while (gate.running < this.options.concurrency && gate.waiting.length > 0) {
      const next = gate.waiting.shift() as () => void;
      gate.shareAt(this.now());
      gate.running++;
      next();
    }
  }

  /** Expected wait (ms) of the request at `position` (1-based) in the queue; Infinity when unmeasured. */
  private expectedWaitMs(gate: TaskGate, position: number): number {
    if (gate.costMs === undefined) return position <= this.options.concurrency ? 0 : Number.POSITIVE_INFINITY;
    return position * gate.costMs;
  }

  /**
   * When a refused request may be accepted: once the queue has moved forward enough that its position
   * would be waited out within `maxWaitMs`; at least 1 s (the header's unit).
   */
  private retryAfterSeconds(gate: TaskGate, position: number): number {
    const costMs = gate.costMs ?? 1000;
    const excessMs = position * costMs - this.options.maxWaitMs;
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
