/**
 * The deployment's configuration: which task functions run on which tier (Lambda, GPU containers) with
 * which model and resources, how the API authenticates, and how storage and monitoring behave.
 *
 * It is one JSON document, validated by a zod schema; {@link DEFAULT_CONFIG} is what deploys when nothing is
 * given. A deployment changes it through CDK context, merged over the defaults (objects merge, arrays and
 * values replace, `null` removes a key, e.g. a task or a tier; a task the defaults leave out, `text-embed`,
 * starts from {@link OPT_IN_TASK_DEFAULTS} when named):
 *
 *   npx cdk deploy -c inferletConfig=deploy/prod.json
 *   npx cdk deploy -c inferlet='{"tasks":{"speech":null},"api":{"auth":{"type":"jwt",...}}}'
 *   npx cdk deploy -c inferlet='{"tasks":{"text-embed":{"lambda":{"model":{"name":"minilm"}}}}}'
 *
 * (the file first, then `inferlet` over it). A configuration that does not validate stops synthesis with
 * every problem listed by its path.
 *
 * This file merges and loads it; `schema.ts` declares the fields, `checks.ts` the rules across them,
 * `defaults.ts` the defaults and `tasks.ts` the tasks (from the task descriptors).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Node } from 'constructs';
import { DEFAULT_CONFIG, OPT_IN_TASK_DEFAULTS } from './defaults.ts';
import { type InferletConfig, InferletConfigSchema } from './schema.ts';

/** The configuration does not validate; the message lists every problem by path. */
export class InvalidConfigError extends Error {
  override readonly name = 'InvalidConfigError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Merges `override` into `base`: objects merge key by key, anything else replaces, and `null` removes the
 * key (so `{"tasks": {"speech": null}}` deploys no speech task).
 */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = mergeConfig(base[key], value);
  }
  return merged;
}

/**
 * {@link DEFAULT_CONFIG} with each override merged over it in turn ({@link mergeConfig}); an override that
 * names a task the defaults leave out ({@link OPT_IN_TASK_DEFAULTS}) merges over that task's defaults, so it
 * needs to give only what differs.
 *
 * @example
 * ```ts
 * parseConfig(mergeOverDefaults({ tasks: { 'text-embed': { lambda: { model: { name: 'minilm' } } } } }));
 * // the three default tasks, and text/embed on Lambda serving minilm with 2048 MB functions
 * ```
 */
export function mergeOverDefaults(...overrides: readonly unknown[]): unknown {
  let merged: unknown = DEFAULT_CONFIG;
  for (const override of overrides) {
    merged = mergeConfig(withOptInTasks(merged, override), override);
  }
  return merged;
}

/** `base` with the defaults of each opt-in task that `override` names (with an object) and `base` lacks. */
function withOptInTasks(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return base;
  const named = override.tasks;
  if (!isPlainObject(named)) return base;
  const baseTasks: Record<string, unknown> = isPlainObject(base.tasks) ? base.tasks : {};
  const added = Object.entries(OPT_IN_TASK_DEFAULTS).filter(
    ([key]) => isPlainObject(named[key]) && baseTasks[key] === undefined,
  );
  if (added.length === 0) return base;
  return { ...base, tasks: { ...baseTasks, ...Object.fromEntries(added) } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a configuration, throwing {@link InvalidConfigError} that names each bad field.
 *
 * @example
 * ```ts
 * parseConfig(mergeConfig(DEFAULT_CONFIG, { tasks: { image: { gpu: { minTasks: 3, maxTasks: 2 } } } }));
 * // InvalidConfigError: invalid Inferlet configuration:
 * //   tasks.image.gpu.minTasks: is 3, more than maxTasks (2)
 * ```
 */
export function parseConfig(candidate: unknown, source = 'configuration'): InferletConfig {
  const result = InferletConfigSchema.safeParse(candidate);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new InvalidConfigError(`invalid Inferlet configuration (${source}):\n${lines.join('\n')}`);
}

/**
 * The configuration of a CDK app: {@link DEFAULT_CONFIG}, then the JSON file named by the context key
 * `inferletConfig` (relative to the working directory), then the context key `inferlet` (a JSON string, as
 * `-c` gives it, or an object, as `cdk.json` or a test gives it).
 */
export function loadConfig(node: Node): InferletConfig {
  const overrides: unknown[] = [];
  const sources: string[] = ['defaults'];
  const file = node.tryGetContext('inferletConfig') as unknown;
  if (file !== undefined) {
    if (typeof file !== 'string') throw new InvalidConfigError('context inferletConfig must be a file path');
    const path = resolve(file);
    overrides.push(parseJson(readFileSync(path, 'utf8'), `file ${path}`));
    sources.push(`file ${path}`);
  }
  const inline = node.tryGetContext('inferlet') as unknown;
  if (inline !== undefined) {
    overrides.push(typeof inline === 'string' ? parseJson(inline, 'context inferlet') : inline);
    sources.push('context inferlet');
  }
  return parseConfig(mergeOverDefaults(...overrides), sources.join(' + '));
}

function parseJson(text: string, source: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new InvalidConfigError(
      `invalid Inferlet configuration (${source}): not JSON: ${(error as Error).message}`,
    );
  }
}
