import { createHttpApp } from './http/app.ts';
import { RequestStats } from './http/stats.ts';
import { InferenceService, type ServedTask } from './inference-service.ts';
import { createModelStore } from './model-store/store.ts';
import type { ModelStore } from './model-store/types.ts';

/** Options of {@link createRuntime}; each defaults to the environment. */
export interface RuntimeOptions {
  readonly tasks: readonly ServedTask[];
  readonly store?: ModelStore;
  readonly maxBodyBytes?: number;
}

/**
 * The service and HTTP app that every door wraps, wired from the environment, and the recent latencies of
 * the app's task requests (`stats`, which the local server's page shows).
 */
export function createRuntime(options: RuntimeOptions) {
  const store = options.store ?? createModelStore();
  const service = new InferenceService({ store, tasks: options.tasks });
  const stats = new RequestStats(options.tasks.map((t) => t.definition.name));
  const app = createHttpApp({
    service,
    stats,
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  return { store, service, app, stats };
}
