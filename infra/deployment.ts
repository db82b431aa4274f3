/**
 * Turns the configuration into what gets deployed: each task with, per tier, the exact model version and
 * variant it serves, checked against the local model repository (`models/`, which the deploy publishes).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelManifest, parseManifest } from '../functions/core/model-store/manifest.ts';
import {
  type GpuServiceSizing,
  type InferletConfig,
  InvalidConfigError,
  type LambdaFunctionSettings,
  TASK_FUNCTIONS,
  TASK_KEYS,
  type TaskConfig,
  type TaskKey,
  type UploadFunctionSettings,
} from './config.ts';

/** A deployment tier: Lambda (CPU) or the GPU service; `MODEL_TIER` and the manifests' `tiers` keys. */
export type Tier = 'lambda' | 'gpu';

/** The model a tier serves, fully resolved. */
export interface ResolvedModel {
  readonly name: string;
  readonly version: string;
  /** The variant the manifest gives the tier: the `variant` dimension of the metrics. */
  readonly variant: string;
  /** `MODEL_<TASK>` value: `name@version`, also the `model` dimension of the metrics. */
  readonly ref: string;
  /** Every model the task serves through the OIP routes: this one and, for an ensemble, its components. */
  readonly served: readonly string[];
}

/** One task as deployed. */
export interface TaskDeployment {
  /** The modality: upload prefix `incoming/<key>/` and the construct ids. */
  readonly key: TaskKey;
  /** Task name, e.g. `image/ocr`. */
  readonly task: string;
  /** HTTP route, e.g. `/v1/image/ocr`. */
  readonly route: string;
  /** `MODEL_IMAGE_OCR`-style variable that pins the model. */
  readonly modelVariable: string;
  readonly httpEntry: string;
  readonly uploadEntry: string;
  readonly lambda?: {
    readonly model: ResolvedModel;
    readonly http: LambdaFunctionSettings;
    readonly upload: UploadFunctionSettings;
  };
  readonly gpu?: GpuServiceSizing & { readonly model: ResolvedModel };
  readonly uploads: TaskConfig['uploads'];
}

/** The configuration with every task resolved. */
export interface Deployment {
  readonly config: InferletConfig;
  readonly tasks: readonly TaskDeployment[];
}

/**
 * Resolves every task's models against the local repository: a missing version is the highest there, the
 * variant is the one the manifest maps the tier to (what the function will load), and a configured variant
 * that disagrees is an error rather than a dashboard that silently shows nothing.
 *
 * @throws {InvalidConfigError} naming the task, tier and model that cannot be resolved.
 */
export function resolveDeployment(config: InferletConfig, repositoryDir: string): Deployment {
  const tasks: TaskDeployment[] = [];
  for (const key of TASK_KEYS) {
    const task = config.tasks[key];
    if (!task) continue;
    const fn = TASK_FUNCTIONS[key];
    const model = (tier: Tier) =>
      resolveModel(repositoryDir, task[tier]?.model ?? {}, fn.defaultModel, tier, {
        path: `tasks.${key}.${tier}.model`,
        published: config.storage.publishModels,
      });
    tasks.push({
      key,
      task: fn.task,
      route: fn.route,
      modelVariable: `MODEL_${fn.task.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`,
      httpEntry: fn.httpEntry,
      uploadEntry: fn.uploadEntry,
      ...(task.lambda && {
        lambda: { model: model('lambda'), http: task.lambda.http, upload: task.lambda.upload },
      }),
      ...(task.gpu && { gpu: { ...task.gpu, model: model('gpu') } }),
      uploads: task.uploads,
    });
  }
  return { config, tasks };
}

interface ModelChoice {
  readonly name?: string;
  readonly version?: string;
  readonly variant?: string;
}

function resolveModel(
  repositoryDir: string,
  choice: ModelChoice,
  defaultName: string,
  tier: Tier,
  where: { readonly path: string; readonly published: boolean },
): ResolvedModel {
  const name = choice.name ?? defaultName;
  const fail = (message: string): never => {
    throw new InvalidConfigError(`invalid Inferlet configuration: ${where.path}: ${message}`);
  };
  const versions = localVersions(repositoryDir, name);
  const version = choice.version ?? versions.filter((v) => /^\d+$/.test(v)).at(-1);
  const manifest =
    version !== undefined && versions.includes(version)
      ? readManifest(repositoryDir, name, version)
      : undefined;
  if (!manifest) {
    if (where.published)
      fail(
        `model ${name}${version ? `@${version}` : ''} is not in the local model repository ${repositoryDir}, which the ` +
          'deploy publishes; build it (npm run models:build) or pick a model that is there',
      );
    if (!version || !choice.variant)
      fail(
        `model ${name} is not in the local model repository ${repositoryDir}; with storage.publishModels false, ` +
          'name its version and variant',
      );
    return model(name, version as string, choice.variant as string, [name]);
  }
  const variant = manifest.tiers?.[tier] ?? manifest.defaultVariant;
  if (choice.variant && choice.variant !== variant)
    fail(
      `variant ${choice.variant} is not what ${name}@${version} serves on the ${tier} tier: its manifest maps ` +
        `${tier} to ${variant}, and MODEL_TIER=${tier} loads that; change the manifest's tiers or drop the variant`,
    );
  return model(name, manifest.version, variant, [name, ...(manifest.composing ?? []).map((c) => c.name)]);
}

function model(name: string, version: string, variant: string, served: string[]): ResolvedModel {
  return { name, version, variant, ref: `${name}@${version}`, served: [...new Set(served)] };
}

/** Versions of a model in a local repository, in numeric order (the store defaults to the highest numeric one). */
function localVersions(repositoryDir: string, name: string): string[] {
  const dir = join(repositoryDir, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'manifest.json')))
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

function readManifest(repositoryDir: string, name: string, version: string): ModelManifest {
  const dir = join(repositoryDir, name, version);
  return parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), dir);
}
