import { loadSettings, servedTaskNames } from './core/config/env.ts';
import type { ServedTask } from './core/inference-service.ts';
import { DEFAULT_TASK_NAMES, type TaskName, taskDescriptor } from './core/tasks/descriptors.ts';
import { taskModelFromEnv } from './core/tasks/served-model.ts';
import type { TaskDefinition } from './core/tasks/types.ts';
import { imageOcrTask } from './image/task.ts';
import { speechVadTask } from './speech/task.ts';
import { textEmbedTask } from './text/embed-task.ts';
import { textClassifyTask } from './text/task.ts';

/**
 * Every task Inferlet can serve, by name (`<modality>/<task>`): each pipeline over its descriptor
 * (`functions/core/tasks/descriptors.ts`, which says the rest of what a task is).
 */
export const SUPPORTED_TASKS: Readonly<Record<TaskName, TaskDefinition>> = Object.freeze({
  'image/ocr': imageOcrTask,
  'speech/vad': speechVadTask,
  'text/classify': textClassifyTask,
  'text/embed': textEmbedTask,
});

/**
 * The tasks served when `TASKS` is unset: those whose default model `models/` ships (every task but
 * `text/embed`, whose model is imported; {@link DEFAULT_TASK_NAMES}).
 */
export const DEFAULT_TASKS: readonly TaskDefinition[] = Object.freeze(
  DEFAULT_TASK_NAMES.map((name) => SUPPORTED_TASKS[name]),
);

/** The definition of a task, or an error that lists the valid names. */
export function taskDefinition(name: string): TaskDefinition {
  return SUPPORTED_TASKS[taskDescriptor(name).name];
}

/**
 * The tasks this process serves, from the settings ({@link loadSettings}):
 * `TASKS` (comma-separated task names; default all) and `MODEL_<TASK>` (e.g. `MODEL_IMAGE_OCR=ppocr-v4@3`).
 */
export function servedTasksFromEnv(env: NodeJS.ProcessEnv = process.env): ServedTask[] {
  return servedTaskNames(loadSettings(env)).map((name) => {
    const definition = taskDefinition(name);
    return { definition, model: taskModelFromEnv(definition, env) };
  });
}
