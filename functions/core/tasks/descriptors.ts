/**
 * What each task is, written once: its name, route, media types, default model, the Lambda entry points
 * that serve it and where its uploads go. The task registry (`functions/tasks.ts`), the environment schema,
 * the CDK configuration and stack, and the bundler all read these.
 *
 * Side-effect free on purpose: the CDK app and the bundler import this file, and must not load onnxruntime,
 * sharp or a pipeline to learn a route. It imports constants only.
 */
import { AUDIO_MEDIA_TYPES, IMAGE_MEDIA_TYPES, TEXT_MEDIA_TYPES } from './media-types.ts';

/** What kind of data a task takes: the first segment of its name and of its uploads' keys. */
export type Modality = 'image' | 'text' | 'speech';

/** Every task Inferlet can serve, by name. */
export const TASK_NAMES = ['image/ocr', 'speech/vad', 'text/classify', 'text/embed'] as const;

/** A task Inferlet can serve, `<modality>/<task>`. */
export type TaskName = (typeof TASK_NAMES)[number];

/** One task, as everything but its pipeline knows it. */
export interface TaskDescriptor {
  /** `<modality>/<task>`, e.g. `image/ocr`. */
  readonly name: TaskName;
  readonly modality: Modality;
  /** HTTP route, e.g. `/v1/image/ocr`. */
  readonly route: string;
  /** Media types the task accepts as a raw body (JSON is always accepted too). */
  readonly mediaTypes: readonly string[];
  /** Model (often an ensemble) served when none is configured. */
  readonly defaultModel: string;
  /**
   * Whether `models/` ships the default model, so a process serves the task when `TASKS` is unset and a
   * deployment has it when its configuration does not say (`text/embed` serves an imported model).
   */
  readonly shipsModel: boolean;
  /**
   * The task an upload under `incoming/<modality>/<file>` goes to, when its key names no task: one per
   * modality. Every task also takes `incoming/<modality>/<task>/<file>`.
   */
  readonly modalityDefault: boolean;
  /**
   * The deployment's name for the task: `tasks.<key>` of the CDK configuration, its construct ids, its
   * `/gpu/<key>/` route and its Lambda bundles (`<key>`, `<key>-uploads`).
   */
  readonly key: string;
  /** The Lambda entry points: the HTTP function and the upload function. */
  readonly entries: { readonly http: string; readonly upload: string };
  /** Packages with native binaries the bundles leave out and a Lambda layer provides. */
  readonly nativePackages: readonly string[];
}

/**
 * Every task's descriptor, by name, in the order a deployment creates them (its constructs, routes and
 * dashboard rows follow it).
 */
export const TASK_DESCRIPTORS = Object.freeze({
  'image/ocr': {
    name: 'image/ocr',
    modality: 'image',
    route: '/v1/image/ocr',
    mediaTypes: IMAGE_MEDIA_TYPES,
    defaultModel: 'ppocr-v4',
    shipsModel: true,
    modalityDefault: true,
    key: 'image',
    entries: { http: 'functions/image/handler.ts', upload: 'functions/image/upload-handler.ts' },
    nativePackages: ['onnxruntime-node', 'sharp'],
  },
  'text/classify': {
    name: 'text/classify',
    modality: 'text',
    route: '/v1/text/classify',
    mediaTypes: TEXT_MEDIA_TYPES,
    defaultModel: 'spam-fasttext',
    shipsModel: true,
    modalityDefault: true,
    key: 'text',
    entries: { http: 'functions/text/handler.ts', upload: 'functions/text/upload-handler.ts' },
    nativePackages: ['onnxruntime-node'],
  },
  'speech/vad': {
    name: 'speech/vad',
    modality: 'speech',
    route: '/v1/speech/vad',
    mediaTypes: AUDIO_MEDIA_TYPES,
    defaultModel: 'silero-vad',
    shipsModel: true,
    modalityDefault: true,
    key: 'speech',
    entries: { http: 'functions/speech/handler.ts', upload: 'functions/speech/upload-handler.ts' },
    nativePackages: ['onnxruntime-node'],
  },
  'text/embed': {
    name: 'text/embed',
    modality: 'text',
    route: '/v1/text/embed',
    mediaTypes: TEXT_MEDIA_TYPES,
    // Inferlet ships no embedding model: a deployment imports one (`npm run models:import`) under this
    // name, or names its own (MODEL_TEXT_EMBED, `tasks.text-embed.lambda.model`).
    defaultModel: 'text-embedding',
    shipsModel: false,
    modalityDefault: false,
    key: 'text-embed',
    entries: { http: 'functions/text/embed-handler.ts', upload: 'functions/text/embed-upload-handler.ts' },
    nativePackages: ['onnxruntime-node'],
  },
} as const satisfies Record<TaskName, TaskDescriptor>);

/** Every descriptor, in the order of {@link TASK_DESCRIPTORS}. */
export const ALL_TASKS: readonly TaskDescriptor[] = Object.freeze(Object.values(TASK_DESCRIPTORS));

/** The tasks whose default model `models/` ships: served when `TASKS` is unset, deployed by default. */
export const DEFAULT_TASK_NAMES: readonly TaskName[] = Object.freeze(
  TASK_NAMES.filter((name) => TASK_DESCRIPTORS[name].shipsModel),
);

/** Whether `name` is a task of the registry. */
export function isTaskName(name: string): name is TaskName {
  return Object.hasOwn(TASK_DESCRIPTORS, name);
}

/** The descriptor of a task, or an error that lists the valid names. */
export function taskDescriptor(name: string): TaskDescriptor {
  if (!isTaskName(name)) throw new Error(`unknown task "${name}"; valid tasks: ${TASK_NAMES.join(', ')}`);
  return TASK_DESCRIPTORS[name];
}

/**
 * The key path under `incoming/` (and `results/`, `errors/`) that holds a task's uploads: the modality
 * for its default task (`image`, which takes `incoming/image/ocr/` too), else `<modality>/<task>`
 * (`text/embed`).
 */
export function uploadPathOf(task: Pick<TaskDescriptor, 'name' | 'modality' | 'modalityDefault'>): string {
  return task.modalityDefault ? task.modality : task.name;
}

/**
 * The task an upload is for, from its key without `incoming/`: `<modality>/<task>/<file>` names the task,
 * `<modality>/<file>` means the modality's default task. Only a name of the registry counts as a task
 * segment (`incoming/text/notes/a.txt` is the file `notes/a.txt` of `text/classify`), so no text of a key
 * ever picks code or a path. `undefined` when the modality has no task, or no default one.
 *
 * @example taskOfUpload('text/embed/a.txt') // { task: TASK_DESCRIPTORS['text/embed'], name: 'a.txt' }
 * @example taskOfUpload('image/scan.png') // { task: TASK_DESCRIPTORS['image/ocr'], name: 'scan.png' }
 */
export function taskOfUpload(path: string): { task: TaskDescriptor; name: string } | undefined {
  const [modality = '', second = '', ...rest] = path.split('/');
  const named = `${modality}/${second}`;
  if (rest.length > 0 && isTaskName(named)) return { task: TASK_DESCRIPTORS[named], name: rest.join('/') };
  const fallback = ALL_TASKS.find((task) => task.modality === modality && task.modalityDefault);
  return fallback && { task: fallback, name: path.slice(modality.length + 1) };
}
