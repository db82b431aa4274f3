import type { AdmissionControl, AdmissionTicket } from './admission.ts';
import { InferletError, ModelNotReadyError, NotFoundError, OverloadedError } from './errors.ts';
import { describeError, log } from './log.ts';
import { InferenceMetrics } from './metrics.ts';
import type { ModelStore } from './model-store/types.ts';
import { providerOf } from './session.ts';
import type { ModelRef, TaskDefinition, TaskInput, TaskRunner } from './tasks/types.ts';

/** A task this process serves, with the model it serves it with. */
export interface ServedTask {
  readonly definition: TaskDefinition;
  readonly model: { readonly name: string; readonly version?: string };
}

interface LoadedTask {
  readonly runner: TaskRunner;
  readonly model: ModelRef;
  readonly loaded: readonly ModelRef[];
  readonly loadMs: number;
}

/** Options of {@link InferenceService}. */
export interface InferenceServiceOptions {
  readonly store: ModelStore;
  readonly tasks: readonly ServedTask[];
  readonly metrics?: InferenceMetrics;
  /** Admission control of the inferences (a long-running server's); none: every inference runs at once. */
  readonly admission?: AdmissionControl;
}

/** Options of {@link InferenceService.admit}. */
export interface AdmitOptions {
  /**
   * The task whose queue the work waits in (OIP tensor inference: the task that serves the model); without
   * one, the work waits in {@link OIP_QUEUE}.
   */
  readonly task?: string;
  /** How the request arrived: `upload` work is queued but never shed, and refused once the service stops. */
  readonly source?: string;
}

/** The admission queue of OIP tensor inference on a model of no loaded task. */
export const OIP_QUEUE = 'oip';

/** The ticket of a service without admission control: work runs at once. */
const UNLIMITED: AdmissionTicket = { run: (work) => work(), cancel: () => {} };

/** Seconds a client refused during a shutdown is asked to wait: another task will have taken over by then. */
const STOPPING_RETRY_AFTER_S = 5;

/**
 * The one core every door calls: it loads each served task once (lazily, single-flight), runs it, adds the
 * model name and timings to the result and emits the metrics. It knows nothing of HTTP, Lambda or S3.
 */
export class InferenceService {
  readonly store: ModelStore;
  /** Where this service's inferences, and its doors' request outcomes, are recorded. */
  readonly metrics: InferenceMetrics;
  private readonly served: ReadonlyMap<string, ServedTask>;
  private readonly loading = new Map<string, Promise<LoadedTask>>();
  private readonly ready = new Map<string, LoadedTask>();
  /** What readiness waits on besides the models, by name. */
  private readonly dependencies = new Map<string, () => boolean>();
  private coldStart = true;
  private admission: AdmissionControl | undefined;
  /** Set by {@link stop}: no new request or upload is taken. */
  private stopping = false;
  /** Requests taken ({@link beginRequest}) and not yet answered. */
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(options: InferenceServiceOptions) {
    this.store = options.store;
    this.served = new Map(options.tasks.map((t) => [t.definition.name, t]));
    this.metrics = options.metrics ?? new InferenceMetrics();
    if (options.admission) this.useAdmission(options.admission);
  }

  /**
   * Puts the inferences under admission control from now on (the long-running server does; Lambda, one
   * request per instance at a time, needs none), its decisions emitted as metrics.
   */
  useAdmission(admission: AdmissionControl): void {
    this.admission = admission;
    admission.onEvent((event) => this.metrics.recordAdmission(event));
  }

  /** Whether {@link stop} has been called. */
  isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Stops taking work: readiness turns 503, a new request ({@link beginRequest}) and an upload not yet
   * running are refused with {@link OverloadedError}; what was taken goes on. Resolves when every taken
   * request has been answered.
   */
  stop(): Promise<void> {
    this.stopping = true;
    return this.inFlight === 0 ? Promise.resolve() : new Promise((done) => this.idleWaiters.push(done));
  }

  /** Requests taken and not yet answered. */
  requestsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Counts a request as taken, until the returned function is called (once, when it has been answered).
   *
   * @throws {OverloadedError} once the service is stopping: the request is refused, not taken.
   */
  beginRequest(): () => void {
    if (this.stopping) {
      throw new OverloadedError('the server is shutting down; try again', {
        retryAfterSeconds: STOPPING_RETRY_AFTER_S,
      });
    }
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      if (this.inFlight === 0 && this.stopping) {
        for (const done of this.idleWaiters.splice(0)) done();
      }
    };
  }

  /** The tasks this process serves. */
  tasks(): ServedTask[] {
    return [...this.served.values()];
  }

  /** The served task of that name, or a 404 listing the served ones. */
  task(name: string): ServedTask {
    const task = this.served.get(name);
    if (!task) {
      throw new NotFoundError(
        `task "${name}" is not served here; served: ${[...this.served.keys()].join(', ')}`,
      );
    }
    return task;
  }

  /** Starts loading every served task and resolves when all are loaded; failures are logged, not thrown. */
  async warm(): Promise<void> {
    await Promise.all(
      [...this.served.keys()].map((name) =>
        this.load(name).catch((error: unknown) =>
          log.error('model load failed', { task: name, ...describeError(error) }),
        ),
      ),
    );
  }

  /**
   * True when every served task has its models loaded and every dependency ({@link dependOn}) is up, and
   * the service is not stopping.
   */
  /** The metrics' provider dimension of a task: its models' execution providers, e.g. `webgpu`. */
  private providersOf(task: LoadedTask): { provider?: string } {
    const providers = new Set<string>();
    for (const ref of task.loaded) {
      const provider = providerOf(this.store.peek(ref.name, ref.version)?.session)?.provider;
      if (provider) providers.add(provider);
    }
    return providers.size > 0 ? { provider: [...providers].sort().join('+') } : {};
  }

  isReady(): boolean {
    return (
      !this.stopping &&
      [...this.served.keys()].every((name) => this.ready.has(name)) &&
      [...this.dependencies.values()].every((isUp) => isUp())
    );
  }

  /**
   * Makes readiness wait on `isUp` too: something besides the models that requests need, such as the
   * embedded S3 server that `npm start`'s models and uploads come through. A second call with the same
   * name replaces the first.
   */
  dependOn(name: string, isUp: () => boolean): void {
    this.dependencies.set(name, isUp);
  }

  /** Models (tasks' own and their components) loaded by this process. */
  loadedModels(): ModelRef[] {
    return [...this.ready.values()].flatMap((t) => t.loaded);
  }

  /** Models this process serves or will serve once loaded, by name. */
  isServedModel(name: string): boolean {
    return (
      this.loadedModels().some((m) => m.name === name) ||
      [...this.served.values()].some((t) => t.model.name === name)
    );
  }

  /**
   * The served task a model belongs to: the task it serves, or whose loaded components include it (a
   * component is known only once its task has loaded); `undefined` for any other model.
   */
  taskOfModel(name: string): string | undefined {
    for (const [task, served] of this.served) if (served.model.name === name) return task;
    for (const [task, loaded] of this.ready) if (loaded.loaded.some((m) => m.name === name)) return task;
    return undefined;
  }

  /** Loads a served task once; concurrent callers share the load, a failure is retried by the next caller. */
  load(name: string): Promise<LoadedTask> {
    const done = this.ready.get(name);
    if (done) return Promise.resolve(done);
    let pending = this.loading.get(name);
    if (!pending) {
      const task = this.task(name);
      const started = performance.now();
      pending = task.definition
        .load(this.store, task.model)
        .then((loaded) => {
          const entry = { ...loaded, loadMs: performance.now() - started };
          this.ready.set(name, entry);
          log.info('task loaded', {
            task: name,
            model: `${loaded.model.name}@${loaded.model.version}`,
            loadMs: Math.round(entry.loadMs),
          });
          return entry;
        })
        .finally(() => this.loading.delete(name));
      this.loading.set(name, pending);
    }
    return pending;
  }

  /**
   * The one gate every inference passes, a task's run ({@link infer}) and a door's direct use of a model
   * (OIP tensor inference): admission control, when the service has any ({@link useAdmission}), goes here
   * and so covers both. Without it `work` runs at once.
   *
   * @throws {OverloadedError} when the task's queue is full for the configured wait, or when an upload's work
   *   would start after {@link stop} (its message is left for redelivery).
   */
  admit<T>(work: () => Promise<T>, options: AdmitOptions = {}): Promise<T> {
    try {
      return this.reserve(options.task ?? OIP_QUEUE, options.source).run(work);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A place in a task's admission queue, taken as a request arrives (before its body is read), or a refusal
   * ({@link OverloadedError}) at once; pass it to {@link infer}, and cancel it if the request fails first.
   * Without admission control the ticket runs its work at once.
   */
  reserve(task: string, source = 'http'): AdmissionTicket {
    const upload = source === 'upload';
    if (upload && this.stopping) {
      throw new OverloadedError('the server is shutting down; the upload is left for another try', {
        retryAfterSeconds: STOPPING_RETRY_AFTER_S,
      });
    }
    if (!this.admission) return UNLIMITED;
    return this.admission.reserve(task, { neverShed: upload });
  }

  /**
   * Runs a task on one input: loads its models if needed, runs it (through `ticket`, or a place taken in the
   * task's admission queue now), records metrics.
   *
   * @returns the JSON result, with `model` (`name@version`) and `timings` (ms) added.
   */
  async infer(
    taskName: string,
    input: TaskInput,
    source = 'http',
    ticket?: AdmissionTicket,
  ): Promise<Record<string, unknown>> {
    const cpu0 = process.cpuUsage();
    const wasLoaded = this.ready.has(taskName);
    let task: LoadedTask;
    try {
      task = await this.load(taskName);
    } catch (error) {
      if (error instanceof InferletError) throw error;
      throw new ModelNotReadyError(`models of task "${taskName}" failed to load`, { cause: error });
    }
    const output = await (ticket ?? this.reserve(taskName, source)).run(() => task.runner.run(input));
    const coldStart = this.coldStart;
    this.coldStart = false;
    const cpu = process.cpuUsage(cpu0);
    const model = `${task.model.name}@${task.model.version}`;
    this.metrics.record({
      task: taskName,
      model,
      variant: task.model.variant,
      timings: output.timings,
      payloadBytes: input.bytes.byteLength,
      items: output.items,
      cpuMs: (cpu.user + cpu.system) / 1000,
      coldStart,
      ...(coldStart || !wasLoaded ? { modelLoadMs: Math.round(task.loadMs) } : {}),
      source,
      ...this.providersOf(task),
    });
    return { model, ...output.result, timings: output.timings };
  }
}
