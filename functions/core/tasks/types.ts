import type { LoadedModel, ModelStore } from '../model-store/types.ts';
import type { StageTimings } from '../timings.ts';
import type { Modality, TaskDescriptor } from './descriptors.ts';

export type { Modality } from './descriptors.ts';

/** A request body as every door (HTTP, Lambda, S3 upload) hands it to a task. */
export interface TaskInput {
  /** Lower-cased media type without parameters, e.g. `image/png`, `application/json`; '' when absent. */
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  /** For uploads: the object key, from which a task may infer the format. */
  readonly filename?: string;
}

/** The result of one task call: the JSON body the client sees, plus what metrics need. */
export interface TaskOutput {
  /** JSON-serialisable result; `model` and `timings` are added by the service. */
  readonly result: Record<string, unknown>;
  readonly timings: StageTimings;
  /** Items processed (images, texts, files). */
  readonly items: number;
}

/** A task bound to its loaded models, ready to run. */
export interface TaskRunner {
  run(input: TaskInput): Promise<TaskOutput>;
}

/** The model a task runs, as `name@version` plus variant. */
export interface ModelRef {
  readonly name: string;
  readonly version: string;
  readonly variant: string;
}

/** One entry of the task registry. */
export interface TaskDefinition {
  /** `<modality>/<task>`, e.g. `image/ocr`. */
  readonly name: string;
  readonly modality: Modality;
  /** HTTP route of the task, e.g. `/v1/image/ocr`. */
  readonly route: string;
  /** Model (often an ensemble) served when none is configured. */
  readonly defaultModel: string;
  /** Media types the task accepts as a raw body (JSON is always accepted too). */
  readonly mediaTypes: readonly string[];
  /**
   * Loads the task's models through the store and returns a runner, plus every model it loaded
   * (the OIP endpoints serve those).
   */
  load(
    store: ModelStore,
    model: { name: string; version?: string },
  ): Promise<{ runner: TaskRunner; model: ModelRef; loaded: readonly ModelRef[] }>;
}

/** A task's pipeline over its loaded model, as {@link defineTask}'s `prepare` returns it. */
export interface PreparedTask {
  run(input: TaskInput): Promise<TaskOutput>;
  /** Models loaded beside the task's own (an ensemble's components): the OIP endpoints serve them too. */
  readonly components?: readonly LoadedModel[];
}

/**
 * A task definition from its descriptor and the one thing that differs between tasks: how a loaded model
 * becomes a pipeline. The shell around it (load the chosen model through the store, name what was loaded)
 * is the same for every task.
 *
 * @example
 * ```ts
 * export const speechVadTask = defineTask(TASK_DESCRIPTORS['speech/vad'], async (model) => {
 *   const vad = await createSileroVad(model);
 *   return { run: (input) => detectSpeech(vad, input) };
 * });
 * ```
 */
export function defineTask(
  descriptor: TaskDescriptor,
  prepare: (model: LoadedModel, store: ModelStore) => Promise<PreparedTask>,
): TaskDefinition & TaskDescriptor {
  return {
    ...descriptor,
    async load(store, wanted) {
      const model = await store.load(wanted.name, wanted.version);
      const prepared = await prepare(model, store);
      return {
        model: modelRefOf(model),
        loaded: [model, ...(prepared.components ?? [])].map(modelRefOf),
        runner: { run: (input) => prepared.run(input) },
      };
    },
  };
}

/** The reference (`name`, `version`, `variant`) of a loaded model. */
export function modelRefOf(model: LoadedModel): ModelRef {
  return { name: model.manifest.name, version: model.manifest.version, variant: model.variant };
}
