import { InferletError, ModelNotReadyError, NotFoundError } from './errors.ts';
import { describeError, log } from './log.ts';
import { InferenceMetrics } from './metrics.ts';
import type { ModelStore } from './model-store/types.ts';
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
}

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

  constructor(options: InferenceServiceOptions) {
    this.store = options.store;
    this.served = new Map(options.tasks.map((t) => [t.definition.name, t]));
    this.metrics = options.metrics ?? new InferenceMetrics();
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

  /** True when every served task has its models loaded and every dependency ({@link dependOn}) is up. */
  isReady(): boolean {
    return (
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
   * (OIP tensor inference): admission control, when the service has any, goes here and so covers both.
   * None is applied yet: `work` runs at once.
   */
  admit<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  /**
   * Runs a task on one input: loads its models if needed, runs it, records metrics.
   *
   * @returns the JSON result, with `model` (`name@version`) and `timings` (ms) added.
   */
  async infer(taskName: string, input: TaskInput, source = 'http'): Promise<Record<string, unknown>> {
    const cpu0 = process.cpuUsage();
    const wasLoaded = this.ready.has(taskName);
    let task: LoadedTask;
    try {
      task = await this.load(taskName);
    } catch (error) {
      if (error instanceof InferletError) throw error;
      throw new ModelNotReadyError(`models of task "${taskName}" failed to load`, { cause: error });
    }
    const output = await this.admit(() => task.runner.run(input));
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
    });
    return { model, ...output.result, timings: output.timings };
  }
}
