/**
 * Turns the configuration into what gets deployed: each task with, per tier, the exact model version and
 * variant it serves, checked against the local model repository (`models/`, which the deploy publishes).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelVariableOf } from '../functions/core/config/env.ts';
import { type ModelManifest, parseManifest } from '../functions/core/model-store/manifest.ts';
import { defaultVersion, sortVersions } from '../functions/core/model-store/versions.ts';
import { type TaskDescriptor, uploadPathOf } from '../functions/core/tasks/descriptors.ts';
import {
  type GpuServiceSizing,
  type InferletConfig,
  InvalidConfigError,
  type LambdaFunctionSettings,
  TASK_KEYS,
  type TaskConfig,
  type TaskKey,
  taskOfKey,
  type UploadFunctionSettings,
} from './config/index.ts';

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
  /** Bytes of the files a process downloads to serve it (its variant's and its components'), when known. */
  readonly bytes?: number;
}

/**
 * A Lambda function's `/tmp` (the model cache, `MODEL_CACHE_DIR`): the 512 MB that every function has, as the
 * inference function asks for no more.
 */
export const LAMBDA_TMP_BYTES = 512 * 1024 * 1024;
/** The most memory a Lambda function can have, in MB. */
export const LAMBDA_MAX_MEMORY_MB = 10_240;
/** Memory of Node, onnxruntime and the bundle before any model, in MB (measured ~200 MB; rounded up). */
export const LAMBDA_RUNTIME_MB = 256;

/**
 * Memory (MB) a Lambda function needs to serve a model of `bytes`: onnxruntime holds the weights once as
 * read and once as its optimised initialisers while the session is created, plus the runtime.
 */
export function lambdaMemoryNeededMb(bytes: number): number {
  return Math.ceil((2 * bytes) / (1024 * 1024)) + LAMBDA_RUNTIME_MB;
}

const mb = (bytes: number) => `${Math.ceil(bytes / (1024 * 1024))} MB`;

/**
 * Refuses a Lambda tier whose model cannot fit: its files must fit `/tmp` and its session the memory of each
 * function, with the reason and the way out (a bigger memoryMb where that is enough, else the GPU tier).
 */
function checkLambdaFits(
  key: TaskKey,
  model: ResolvedModel,
  functions: Record<'http' | 'upload', number>,
): void {
  if (model.bytes === undefined) return;
  const gpu = `serve it from the GPU tier instead (tasks.${key}.gpu, with tasks.${key}.lambda null) or import a smaller export`;
  const fail = (path: string, message: string): never => {
    throw new InvalidConfigError(`invalid Inferlet configuration: ${path}: ${message}`);
  };
  if (model.bytes > LAMBDA_TMP_BYTES) {
    fail(
      `tasks.${key}.lambda.model`,
      `model ${model.ref} (${model.variant}) is ${mb(model.bytes)} of files, more than a Lambda function's /tmp ` +
        `(${mb(LAMBDA_TMP_BYTES)}) where it is downloaded; ${gpu}`,
    );
  }
  const needed = lambdaMemoryNeededMb(model.bytes);
  for (const [fn, memoryMb] of Object.entries(functions)) {
    if (memoryMb >= needed) continue;
    fail(
      `tasks.${key}.lambda.${fn}.memoryMb`,
      `${memoryMb} MB cannot hold model ${model.ref} (${model.variant}, ${mb(model.bytes)}; a session needs about ` +
        `twice its weights plus ${LAMBDA_RUNTIME_MB} MB, ${needed} MB): ` +
        (needed <= LAMBDA_MAX_MEMORY_MB
          ? `raise memoryMb to ${needed} or more, or ${gpu}`
          : `no Lambda function has that much memory; ${gpu}`),
    );
  }
}

/** One task as deployed. */
export interface TaskDeployment {
  /** `tasks.<key>` of the configuration, the construct ids and the bundles' names. */
  readonly key: TaskKey;
  /** Task name, e.g. `image/ocr`. */
  readonly task: string;
  /** What the task is: route, media types, Lambda entries, native packages, modality. */
  readonly descriptor: TaskDescriptor;
  /** HTTP route, e.g. `/v1/image/ocr`. */
  readonly route: string;
  /**
   * The key path of the task's uploads under `incoming/` (and of their records under `results/`,
   * `errors/`): `image`, or `text/embed` for a task that is not its modality's default.
   */
  readonly uploadPath: string;
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
    const descriptor = taskOfKey(key);
    const model = (tier: Tier) =>
      resolveModel(repositoryDir, task[tier]?.model ?? {}, descriptor.defaultModel, tier, {
        path: `tasks.${key}.${tier}.model`,
        published: config.storage.publishModels,
        task: descriptor.name,
      });
    tasks.push({
      key,
      task: descriptor.name,
      descriptor,
      route: descriptor.route,
      uploadPath: uploadPathOf(descriptor),
      modelVariable: modelVariableOf(descriptor.name),
      httpEntry: descriptor.entries.http,
      uploadEntry: descriptor.entries.upload,
      ...(task.lambda && {
        lambda: lambdaTier(key, model('lambda'), task.lambda.http, task.lambda.upload),
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
  where: { readonly path: string; readonly published: boolean; readonly task: string },
): ResolvedModel {
  const name = choice.name ?? defaultName;
  const fail = (message: string): never => {
    throw new InvalidConfigError(`invalid Inferlet configuration: ${where.path}: ${message}`);
  };
  const versions = localVersions(repositoryDir, name);
  const version = choice.version ?? defaultVersion(versions);
  const manifest =
    version !== undefined && versions.includes(version)
      ? readManifest(repositoryDir, name, version)
      : undefined;
  if (!manifest) {
    if (where.published)
      fail(
        `model ${name}${version ? `@${version}` : ''} is not in the local model repository ${repositoryDir}, which the ` +
          'deploy publishes; build it (npm run models:build), import it there (npm run models:import -- --from ' +
          `<export> --name ${name}) or pick a model that is there`,
      );
    if (!version || !choice.variant)
      fail(
        `model ${name} is not in the local model repository ${repositoryDir}; with storage.publishModels false, ` +
          'name its version and variant',
      );
    return model(name, version as string, choice.variant as string, [name]);
  }
  // The function would load it and fail at its first cold start; say so now, while nothing is deployed.
  if (manifest.task !== where.task)
    fail(
      `model ${name}@${manifest.version} is a ${manifest.task} model (its manifest's task) and cannot serve ` +
        `${where.task}; name a ${where.task} model`,
    );
  const variant = manifest.tiers?.[tier] ?? manifest.defaultVariant;
  const bytes = downloadBytes(repositoryDir, manifest, variant);
  if (choice.variant && choice.variant !== variant)
    fail(
      `variant ${choice.variant} is not what ${name}@${version} serves on the ${tier} tier: its manifest maps ` +
        `${tier} to ${variant}, and MODEL_TIER=${tier} loads that; change the manifest's tiers or drop the variant`,
    );
  return {
    ...model(name, manifest.version, variant, [name, ...(manifest.composing ?? []).map((c) => c.name)]),
    ...(bytes !== undefined && { bytes }),
  };
}

function model(name: string, version: string, variant: string, served: string[]): ResolvedModel {
  return { name, version, variant, ref: `${name}@${version}`, served: [...new Set(served)] };
}

function lambdaTier(
  key: TaskKey,
  resolved: ResolvedModel,
  http: LambdaFunctionSettings,
  upload: UploadFunctionSettings,
) {
  checkLambdaFits(key, resolved, { http: http.memoryMb, upload: upload.memoryMb });
  return { model: resolved, http, upload };
}

/**
 * Bytes a process downloads to serve a model version's variant: the variant's weights and the files every
 * variant shares, and the same of each component of an ensemble (their default variants); undefined when a
 * component is not in the local repository.
 */
function downloadBytes(repositoryDir: string, manifest: ModelManifest, variant: string): number | undefined {
  const weights = new Set(Object.values(manifest.variants).map((v) => v.file));
  const own = manifest.variants[variant]?.file;
  let bytes = manifest.files
    .filter((f) => f.path === own || !weights.has(f.path))
    .reduce((sum, f) => sum + f.bytes, 0);
  for (const component of manifest.composing ?? []) {
    if (!localVersions(repositoryDir, component.name).includes(component.version)) return undefined;
    const composed = readManifest(repositoryDir, component.name, component.version);
    const part = downloadBytes(repositoryDir, composed, composed.defaultVariant);
    if (part === undefined) return undefined;
    bytes += part;
  }
  return bytes;
}

/** Versions of a model in a local repository, in numeric order (the store defaults to the highest numeric one). */
function localVersions(repositoryDir: string, name: string): string[] {
  const dir = join(repositoryDir, name);
  if (!existsSync(dir)) return [];
  return sortVersions(
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'manifest.json')))
      .map((entry) => entry.name),
  );
}

function readManifest(repositoryDir: string, name: string, version: string): ModelManifest {
  const dir = join(repositoryDir, name, version);
  return parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), dir);
}
