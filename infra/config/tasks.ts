/**
 * The tasks a deployment can run, read from the task descriptors (`functions/core/tasks/descriptors.ts`),
 * which import nothing heavy: the CDK app never loads onnxruntime or a pipeline to learn a route.
 */
import {
  ALL_TASKS,
  type TASK_DESCRIPTORS,
  type TaskDescriptor,
  type TaskName,
} from '../../functions/core/tasks/descriptors.ts';

/**
 * A task's key in a deployment: `tasks.<key>` of the configuration, its construct ids, its `/gpu/<key>/`
 * route and its Lambda bundles (`image`, `text`, `speech`, `text-embed`).
 */
export type TaskKey = (typeof TASK_DESCRIPTORS)[TaskName]['key'];

/** Every {@link TaskKey}, in the order a deployment creates its tasks. */
export const TASK_KEYS: readonly TaskKey[] = Object.freeze(ALL_TASKS.map((task) => task.key as TaskKey));

/** The descriptor of the task a {@link TaskKey} names. */
export function taskOfKey(key: TaskKey): TaskDescriptor {
  const task = ALL_TASKS.find((t) => t.key === key);
  if (!task) throw new Error(`unknown task key "${key}"; valid keys: ${TASK_KEYS.join(', ')}`);
  return task;
}
