import { DEFAULT_TASK_NAMES, loadSettings, servedTaskNames } from './core/config/env.ts';
import type { ServedTask } from './core/inference-service.ts';
import { taskModelFromEnv } from './core/tasks/served-model.ts';
import type { TaskDefinition } from './core/tasks/types.ts';
import { imageOcrTask } from './image/task.ts';
import { speechVadTask } from './speech/task.ts';
import { textEmbedTask } from './text/embed-task.ts';
import { textClassifyTask } from './text/task.ts';

/** Every task Inferlet can serve, by name (`<modality>/<task>`). */
export const SUPPORTED_TASKS: Readonly<Record<string, TaskDefinition>> = Object.freeze({
  [imageOcrTask.name]: imageOcrTask,
  [speechVadTask.name]: speechVadTask,
  [textClassifyTask.name]: textClassifyTask,
  [textEmbedTask.name]: textEmbedTask,
});

/**
 * The tasks served when `TASKS` is unset: every task but `text/embed`, whose model is imported
 * ({@link DEFAULT_TASK_NAMES}); their default models are in `models/`.
 */
export const DEFAULT_TASKS: readonly TaskDefinition[] = Object.freeze(
  DEFAULT_TASK_NAMES.map((name) => SUPPORTED_TASKS[name] as TaskDefinition),
);

/** The definition of a task, or an error that lists the valid names. */
export function taskDefinition(name: string): TaskDefinition {
  const task = SUPPORTED_TASKS[name];
  if (!task)
    throw new Error(`unknown task "${name}"; valid tasks: ${Object.keys(SUPPORTED_TASKS).join(', ')}`);
  return task;
}

/**
 * The tasks this process serves, from the settings ({@link loadSettings}):
 * `TASKS` (comma-separated task names; default all) and `MODEL_<TASK>` (e.g. `MODEL_IMAGE_OCR=ppocr-v4@1`).
 */
export function servedTasksFromEnv(env: NodeJS.ProcessEnv = process.env): ServedTask[] {
  return servedTaskNames(loadSettings(env)).map((name) => {
    const definition = taskDefinition(name);
    return { definition, model: taskModelFromEnv(definition, env) };
  });
}
