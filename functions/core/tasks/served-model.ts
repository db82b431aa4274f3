import type { TaskDefinition } from './types.ts';

/** The model a task function serves: `MODEL_<TASK>` (e.g. `MODEL_IMAGE_OCR=ppocr-v4@1`), else the default. */
export function taskModelFromEnv(definition: TaskDefinition, env: NodeJS.ProcessEnv = process.env) {
  const variable = `MODEL_${definition.name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
  const [name, version] = (env[variable] ?? definition.defaultModel).split('@');
  return { name: name || definition.defaultModel, ...(version ? { version } : {}) };
}
