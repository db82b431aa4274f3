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
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Node } from 'constructs';
import { z } from 'zod';

/**
 * The task functions a deployment can run, keyed by each task's upload segment (`incoming/<key>/`): the
 * modality for the first task of a modality, `text-embed` for `text/embed`, which shares `text` with
 * `text/classify` (S3 refuses notifications whose prefixes overlap, so it cannot be `incoming/text/embed/`).
 * Mirrors `SUPPORTED_TASKS` (a test keeps them equal) without importing the tasks, which would load
 * onnxruntime into the CDK app. `nativePackages` are the layers a function's bundle needs.
 */
export const TASK_FUNCTIONS = Object.freeze({
  image: {
    task: 'image/ocr',
    route: '/v1/image/ocr',
    defaultModel: 'ppocr-v4',
    httpEntry: 'functions/image/handler.ts',
    uploadEntry: 'functions/image/upload-handler.ts',
    nativePackages: ['onnxruntime-node', 'sharp'],
  },
  text: {
    task: 'text/classify',
    route: '/v1/text/classify',
    defaultModel: 'spam-fasttext',
    httpEntry: 'functions/text/handler.ts',
    uploadEntry: 'functions/text/upload-handler.ts',
    nativePackages: ['onnxruntime-node'],
  },
  speech: {
    task: 'speech/vad',
    route: '/v1/speech/vad',
    defaultModel: 'silero-vad',
    httpEntry: 'functions/speech/handler.ts',
    uploadEntry: 'functions/speech/upload-handler.ts',
    nativePackages: ['onnxruntime-node'],
  },
  'text-embed': {
    task: 'text/embed',
    route: '/v1/text/embed',
    // No embedding model ships: the deployment imports one (`npm run models:import`) under this name or
    // names its own in `tasks.text-embed.lambda.model`.
    defaultModel: 'text-embedding',
    httpEntry: 'functions/text/embed-handler.ts',
    uploadEntry: 'functions/text/embed-upload-handler.ts',
    nativePackages: ['onnxruntime-node'],
  },
} as const);

/**
 * A key of {@link TASK_FUNCTIONS}: the task's upload segment (its uploads are `incoming/<key>/`), also the
 * `tasks.<key>` of the configuration, the `/gpu/<key>/` route of its GPU service and its construct ids.
 */
export type TaskKey = keyof typeof TASK_FUNCTIONS;
/** Every {@link TaskKey}, in a stable order. */
export const TASK_KEYS = Object.keys(TASK_FUNCTIONS) as TaskKey[];

/** Retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** The HTTP API gives up on an integration after 30 seconds, so an HTTP function never needs longer. */
export const HTTP_API_TIMEOUT_SECONDS = 30;

const segment = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, . _ - only');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** Which model a tier serves; unset fields come from the local model repository (see `resolveDeployment`). */
const ModelChoice = z
  .object({
    /** Model name; default: the task's default model. */
    name: segment.optional(),
    /** Model version; default: the highest version in the local repository. */
    version: segment.optional(),
    /**
     * The variant the tier runs. The functions pick it from the manifest's `tiers` by `MODEL_TIER`, so this
     * is checked against the manifest rather than sent; it names the `variant` dimension of the metrics.
     */
    variant: segment.optional(),
  })
  .strict();

/** Resources of one Lambda function. */
const LambdaFunctionSettings = z
  .object({
    /** Memory in MB; Lambda gives CPU in proportion (1769 MB is one vCPU). */
    memoryMb: int(128, 10240),
    /** The most one invocation may take, a cold start's model download included. */
    timeoutSeconds: int(1, 900),
    /** Concurrency reserved for (and capping) this function. */
    reservedConcurrency: int(1).optional(),
    /** Pre-initialised environments on the `live` alias, which the API or the queue invokes. */
    provisionedConcurrency: int(1).optional(),
  })
  .strict();

const UploadFunctionSettings = LambdaFunctionSettings.extend({
  /** SQS messages per invocation (1-10). */
  batchSize: int(1, 10),
  /** Most concurrent invocations the queue drives (2-1000). */
  maxConcurrency: int(2, 1000).optional(),
}).strict();

const LambdaTier = z
  .object({
    model: ModelChoice.default({}),
    /** The function behind the HTTP API. */
    http: LambdaFunctionSettings,
    /** The function that processes uploads from the task's queue. */
    upload: UploadFunctionSettings,
  })
  .strict();

/**
 * The GPU service of one task: its own Auto Scaling group of `instanceType`, task definition, ECS service,
 * load balancer and scaling, serving only this task. Unset sizing takes the defaults shown (one g4dn.xlarge).
 * Opt-in: {@link DEFAULT_CONFIG} has none, because a new account's G/VT vCPU quota is usually 0 and a service
 * that never stabilises rolls the whole stack back (`npm run doctor` checks the quota).
 */
const GpuTier = z
  .object({
    model: ModelChoice.default({}),
    /** EC2 instance type with an NVIDIA GPU on x86_64, e.g. `g4dn.xlarge`, `g5.xlarge`, `g6.xlarge`. */
    instanceType: z
      .string()
      .regex(
        /^(g|gr|p)\d+[a-z-]*\.[a-z0-9]+$/,
        'must be a GPU instance type (g or p family), e.g. g4dn.xlarge',
      )
      .refine((type) => !/^g\d+g/.test(type), 'Graviton GPU instances (g5g) cannot run the x86_64 image')
      .default('g4dn.xlarge'),
    /**
     * Fewest and most tasks (one GPU each) the service scales between. `minTasks: 0` only without HTTP
     * (`serveHttp: false`): request-count scaling cannot start a task while there is no target to count on.
     */
    minTasks: int(0, 100).default(1),
    maxTasks: int(1, 100).default(2),
    /** Memory reserved for the server container, in MiB; must fit the instance with the agents beside it. */
    memoryMiB: int(1024).default(12288),
    /** Target of request-count scaling: ALB requests per task per minute. */
    requestsPerTarget: int(1).default(600),
    /**
     * Upload messages (waiting and in flight) per running task above which the service adds tasks; below
     * half of it, it removes one. With no task running, any message starts one.
     */
    backlogPerTask: int(1).default(20),
    /**
     * Route `/gpu/<task>/` of the API to the service and scale it on requests; false: an upload worker only
     * (its queue's single consumer), which may scale to zero.
     */
    serveHttp: z.boolean().default(true),
  })
  .strict();

const TaskConfig = z
  .object({
    /** Run the task on Lambda (CPU); omit or `null` for no Lambda tier. */
    lambda: LambdaTier.optional(),
    /** Serve the task from a GPU service of its own too; omit or `null` for none. */
    gpu: GpuTier.optional(),
    uploads: z
      .object({
        /**
         * Who consumes the task's upload queue: the Lambda upload function or the GPU service. One only: two
         * consumers of one queue compete, the Lambda drains it and the GPU backlog scaling never sees work.
         */
        consumers: z.array(z.enum(['lambda', 'gpu'])).min(1),
        /** `MAX_UPLOAD_BYTES`: larger uploads are refused (an `errors/` record). */
        maxUploadBytes: int(1),
        /** Receives of one message before it moves to the dead-letter queue. */
        maxReceiveCount: int(1, 1000),
      })
      .strict(),
  })
  .strict();

const Auth = z.discriminatedUnion('type', [
  /** SigV4-signed requests; callers need `execute-api:Invoke` on the API. */
  z.object({ type: z.literal('iam') }).strict(),
  /** Bearer JWTs from an OIDC issuer, checked against the audience. */
  z
    .object({
      type: z.literal('jwt'),
      issuer: z.url({ protocol: /^https$/, error: 'must be an https:// issuer URL' }),
      audience: z.array(z.string().min(1)).min(1),
    })
    .strict(),
]);

/** What the GPU services of all tasks share: their VPC and the load balancers' certificate. */
const GpuNetwork = z
  .object({
    /** ACM certificate for the load balancers' HTTPS listeners; without one they listen on HTTP inside the VPC. */
    certificateArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/,
        'must be an ACM certificate ARN',
      )
      .optional(),
    /** The name the certificate is issued for; the API verifies it when it calls a load balancer. */
    serverName: z
      .string()
      .regex(/^[a-z0-9.-]+$/, 'must be a DNS name')
      .optional(),
    /** NAT gateways of the GPU services' VPC (instances pull images and reach AWS APIs through them). */
    natGateways: int(1, 3),
  })
  .strict();

const Storage = z
  .object({
    /** Key prefix of the model repository in the models bucket: '' or ending in '/'. */
    modelPrefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, "must be '' or path segments ending in '/'"),
    /** Publish `models/` to the models bucket at deploy (BucketDeployment); false: publish it yourself. */
    publishModels: z.boolean(),
    uploads: z
      .object({
        /** Days an object under `incoming/` is kept. */
        incomingExpirationDays: int(1),
        /** Days until `results/` move to S3 Standard-IA (30 or more, S3's minimum). */
        resultsInfrequentAccessDays: int(30),
        /** Days a result is kept. */
        resultsExpirationDays: int(1),
        /** Days an `errors/` record is kept. */
        errorsExpirationDays: int(1),
        /** Days an overwritten or deleted version is kept. */
        noncurrentVersionExpirationDays: int(1),
      })
      .strict(),
  })
  .strict();

const Monitoring = z
  .object({
    /** Retention of every log group, in days. */
    logRetentionDays: z.number().refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
      message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
    }),
    /** Alarm subscribers; the topic is created either way. At least one outside the `dev` profile. */
    alarmEmails: z.array(z.email()),
    /** Age of the oldest waiting upload, in seconds, that raises an alarm (uploads are not being processed). */
    oldestUploadAgeSeconds: int(60, 1_209_600),
    /** Error rate (percent of invocations or requests, per 5 minutes) that raises an alarm. */
    errorRatePercent: z.number().gt(0).max(100),
    /** Width of the p99 latency anomaly band, in standard deviations. */
    latencyBandWidth: z.number().gt(0).max(10),
  })
  .strict();

/** How a new version of the code reaches the traffic. */
const Rollout = z
  .object({
    /**
     * CodeDeploy's traffic shift from the old to the new version of each function's `live` alias; an error
     * alarm of the function during the shift rolls it back. `allAtOnce` still rolls back on an alarm.
     */
    lambda: z.enum([
      'canary10Percent15Minutes',
      'canary10Percent5Minutes',
      'linear10PercentEvery1Minute',
      'allAtOnce',
    ]),
  })
  .strict();

/** The configuration schema; {@link InferletConfig} is its type. */
export const InferletConfigSchema = z
  .object({
    /**
     * `dev`: a deployment for trying things, no alarm subscriber needed; `prod`: every alarm must reach
     * someone (`monitoring.alarmEmails`).
     */
    profile: z.enum(['dev', 'prod']),
    /**
     * The stack's region, e.g. `eu-west-1`; default: `CDK_DEFAULT_REGION` (the CLI's profile). A GPU tier needs
     * one: its load balancer's access logs are delivered by a regional service.
     */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. eu-west-1')
      .optional(),
    tasks: z
      .object({
        image: TaskConfig.optional(),
        text: TaskConfig.optional(),
        speech: TaskConfig.optional(),
        /** `text/embed` on an imported encoder; absent by default (see {@link OPT_IN_TASK_DEFAULTS}). */
        'text-embed': TaskConfig.optional(),
      })
      .strict(),
    api: z
      .object({
        auth: Auth,
        /** Stage-wide throttling of the HTTP API: steady requests per second and burst. */
        throttle: z.object({ rateLimit: z.number().positive(), burstLimit: int(1) }).strict(),
      })
      .strict(),
    /** The network of the GPU services (used when a task has a `gpu` tier). */
    gpuNetwork: GpuNetwork,
    storage: Storage,
    monitoring: Monitoring,
    rollout: Rollout,
  })
  .strict()
  .superRefine((config, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const tasks = TASK_KEYS.filter((key) => config.tasks[key]);
    if (tasks.length === 0) issue(['tasks'], 'no task is configured; a deployment needs at least one');
    for (const key of tasks) {
      const task = config.tasks[key];
      if (!task) continue;
      if (!task.lambda && !task.gpu)
        issue(
          ['tasks', key],
          'has neither a lambda nor a gpu tier; give it one, or remove the task with null',
        );
      if (new Set(task.uploads.consumers).size > 1)
        issue(
          ['tasks', key, 'uploads', 'consumers'],
          'names both lambda and gpu: one queue takes one consumer (two compete, and the Lambda drains the ' +
            "GPU service's backlog); pick one, or give the task two deployments",
        );
      for (const consumer of new Set(task.uploads.consumers)) {
        if (!task[consumer])
          issue(
            ['tasks', key, 'uploads', 'consumers'],
            `names ${consumer} but the task has no ${consumer} tier`,
          );
      }
      if (task.gpu && task.gpu.minTasks === 0 && task.gpu.serveHttp)
        issue(
          ['tasks', key, 'gpu', 'minTasks'],
          'is 0 while the GPU service serves HTTP: with no task running the load balancer answers 503 and ' +
            'request-count scaling has no target to count on; set minTasks to 1 or more, or serveHttp to false',
        );
      if (task.gpu && !task.gpu.serveHttp && !task.uploads.consumers.includes('gpu'))
        issue(
          ['tasks', key, 'gpu', 'serveHttp'],
          'is false and the GPU service does not consume uploads either: it would do nothing',
        );
      if (task.gpu && task.gpu.minTasks > task.gpu.maxTasks)
        issue(
          ['tasks', key, 'gpu', 'minTasks'],
          `is ${task.gpu.minTasks}, more than maxTasks (${task.gpu.maxTasks})`,
        );
      if (task.lambda) {
        if (task.lambda.http.timeoutSeconds > HTTP_API_TIMEOUT_SECONDS)
          issue(
            ['tasks', key, 'lambda', 'http', 'timeoutSeconds'],
            `must be at most ${HTTP_API_TIMEOUT_SECONDS}: the HTTP API stops waiting after ${HTTP_API_TIMEOUT_SECONDS} s`,
          );
        for (const fn of ['http', 'upload'] as const) {
          const { reservedConcurrency, provisionedConcurrency } = task.lambda[fn];
          if (reservedConcurrency && provisionedConcurrency && provisionedConcurrency > reservedConcurrency)
            issue(
              ['tasks', key, 'lambda', fn, 'provisionedConcurrency'],
              `is ${provisionedConcurrency}, more than the reservedConcurrency of ${reservedConcurrency}`,
            );
        }
      }
    }
    if (config.profile !== 'dev' && config.monitoring.alarmEmails.length === 0)
      issue(
        ['monitoring', 'alarmEmails'],
        `is empty in the ${config.profile} profile: alarms would reach nobody; add an address (or use profile dev)`,
      );
    const network = config.gpuNetwork;
    if (Boolean(network.certificateArn) !== Boolean(network.serverName))
      issue(
        ['gpuNetwork', network.certificateArn ? 'serverName' : 'certificateArn'],
        'certificateArn and serverName go together',
      );
    const { uploads } = config.storage;
    if (uploads.resultsExpirationDays <= uploads.resultsInfrequentAccessDays)
      issue(
        ['storage', 'uploads', 'resultsExpirationDays'],
        `must be later than resultsInfrequentAccessDays (${uploads.resultsInfrequentAccessDays})`,
      );
  });

/** The validated configuration. */
export type InferletConfig = z.infer<typeof InferletConfigSchema>;
/** The configuration of one task. */
export type TaskConfig = z.infer<typeof TaskConfig>;
/** Resources of one Lambda function. */
export type LambdaFunctionSettings = z.infer<typeof LambdaFunctionSettings>;
/** Resources of an upload function. */
export type UploadFunctionSettings = z.infer<typeof UploadFunctionSettings>;
/** How the HTTP API authenticates. */
export type ApiAuth = z.infer<typeof Auth>;
/** A task's GPU tier: its model and the sizing of its GPU service. */
export type GpuTierConfig = z.infer<typeof GpuTier>;
/** The sizing of one task's GPU service. */
export type GpuServiceSizing = Omit<GpuTierConfig, 'model'>;
/** The network the GPU services share. */
export type GpuNetworkConfig = z.infer<typeof GpuNetwork>;

/**
 * What deploys when nothing is configured: the three tasks whose models ship (not `text-embed`, see
 * {@link OPT_IN_TASK_DEFAULTS}) on Lambda with the variants their manifests give the `lambda` tier (int8 for
 * text), each upload queue capped at a few concurrent invocations so a burst
 * of uploads cannot take the account's concurrency from the HTTP functions, IAM-authenticated API, `dev`
 * profile, canary rollouts. No GPU tier: it is opt-in (see `tasks.<task>.gpu`), e.g.
 * `-c inferlet='{"region":"eu-west-1","tasks":{"image":{"gpu":{}}}}'`.
 */
export const DEFAULT_CONFIG: InferletConfig = Object.freeze({
  profile: 'dev',
  tasks: {
    image: {
      lambda: {
        model: {},
        http: { memoryMb: 3008, timeoutSeconds: 30 },
        upload: { memoryMb: 3008, timeoutSeconds: 120, batchSize: 1, maxConcurrency: 5 },
      },
      uploads: { consumers: ['lambda'], maxUploadBytes: 50 * 1024 * 1024, maxReceiveCount: 3 },
    },
    text: {
      lambda: {
        model: {},
        http: { memoryMb: 1024, timeoutSeconds: 10 },
        upload: { memoryMb: 1024, timeoutSeconds: 60, batchSize: 5, maxConcurrency: 5 },
      },
      uploads: { consumers: ['lambda'], maxUploadBytes: 10 * 1024 * 1024, maxReceiveCount: 3 },
    },
    speech: {
      lambda: {
        model: {},
        http: { memoryMb: 2048, timeoutSeconds: 30 },
        upload: { memoryMb: 2048, timeoutSeconds: 300, batchSize: 1, maxConcurrency: 5 },
      },
      uploads: { consumers: ['lambda'], maxUploadBytes: 200 * 1024 * 1024, maxReceiveCount: 3 },
    },
  },
  api: { auth: { type: 'iam' }, throttle: { rateLimit: 50, burstLimit: 100 } },
  gpuNetwork: { natGateways: 1 },
  storage: {
    modelPrefix: '',
    publishModels: true,
    uploads: {
      incomingExpirationDays: 7,
      resultsInfrequentAccessDays: 30,
      resultsExpirationDays: 365,
      errorsExpirationDays: 30,
      noncurrentVersionExpirationDays: 7,
    },
  },
  monitoring: {
    logRetentionDays: 30,
    alarmEmails: [],
    errorRatePercent: 5,
    latencyBandWidth: 3,
    oldestUploadAgeSeconds: 1800,
  },
  // The error-rate alarms that roll a deployment back need 2 of 3 five-minute periods: a canary shorter
  // than 10 minutes would be over before they could fire.
  rollout: { lambda: 'canary10Percent15Minutes' },
} satisfies InferletConfig);

/**
 * Tasks that {@link DEFAULT_CONFIG} leaves out because no model for them ships, with the settings a
 * configuration that names one starts from: `text-embed` serves an imported encoder, so
 * `{"tasks":{"text-embed":{"lambda":{"model":{"name":"minilm"}}}}}` deploys it on Lambda with the sizing below.
 * 2048 MB holds any model whose files fit a function's 512 MB `/tmp` (twice the weights plus 256 MB, 1280 MB)
 * and gives a transformer more than one vCPU; uploads are limited as `text`'s are.
 */
export const OPT_IN_TASK_DEFAULTS: Readonly<Partial<Record<TaskKey, TaskConfig>>> = Object.freeze({
  'text-embed': {
    lambda: {
      model: {},
      http: { memoryMb: 2048, timeoutSeconds: 30 },
      upload: { memoryMb: 2048, timeoutSeconds: 300, batchSize: 1, maxConcurrency: 5 },
    },
    uploads: { consumers: ['lambda'], maxUploadBytes: 10 * 1024 * 1024, maxReceiveCount: 3 },
  },
} satisfies Partial<Record<TaskKey, TaskConfig>>);

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
