import type { LoadedModel, ModelStore } from '../model-store/types.ts';
import type { StageTimings } from '../timings.ts';

/** What kind of data a task takes. */
export type Modality = 'image' | 'text' | 'speech';

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
  /**
   * The segment of the uploads bucket whose files the task processes, `incoming/<segment>/`; default: the
   * modality. A second task of a modality needs its own (e.g. `text-embed`).
   */
  readonly uploadSegment?: string;
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

/** The segment under `incoming/` whose uploads a task processes: its `uploadSegment`, else its modality. */
export function uploadSegmentOf(task: Pick<TaskDefinition, 'modality' | 'uploadSegment'>): string {
  return task.uploadSegment ?? task.modality;
}

/** The reference (`name`, `version`, `variant`) of a loaded model. */
export function modelRefOf(model: LoadedModel): ModelRef {
  return { name: model.manifest.name, version: model.manifest.version, variant: model.variant };
}
