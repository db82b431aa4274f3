import { loadSettings, modelChoiceOf } from '../config/env.ts';
import type { TaskDefinition } from './types.ts';

/** The model a task function serves: `MODEL_<TASK>` (e.g. `MODEL_IMAGE_OCR=ppocr-v4@3`), else the default. */
export function taskModelFromEnv(definition: TaskDefinition, env: NodeJS.ProcessEnv = process.env) {
  return modelChoiceOf(loadSettings(env), definition.name) ?? { name: definition.defaultModel };
}
