import { createHttpApp } from './http/app.ts';
import { InferenceService, type ServedTask } from './inference-service.ts';
import { createModelStore } from './model-store/store.ts';
import type { ModelStore } from './model-store/types.ts';

/** Options of {@link createRuntime}; each defaults to the environment. */
export interface RuntimeOptions {
  readonly tasks: readonly ServedTask[];
  readonly store?: ModelStore;
  readonly maxBodyBytes?: number;
}

/** The service and HTTP app that every door wraps, wired from the environment. */
export function createRuntime(options: RuntimeOptions) {
  const store = options.store ?? createModelStore();
  const service = new InferenceService({ store, tasks: options.tasks });
  const app = createHttpApp({
    service,
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  return { store, service, app };
}
