/**
 * The schema of the deployment's configuration: every field, its type and range, documented where it is
 * declared; {@link InferletConfigSchema} adds the checks across fields (`checks.ts`).
 */
import { z } from 'zod';
import { SEGMENT, SEGMENT_RULE } from '../../functions/core/model-store/segment.ts';
import { checkConfig } from './checks.ts';
import { TASK_KEYS, type TaskKey } from './tasks.ts';

/** Retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const segment = z.string().regex(SEGMENT, SEGMENT_RULE);
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
    /**
     * The server image: `webgpu` (`Dockerfile`: onnxruntime-node's bundled WebGPU provider on Debian's Vulkan
     * loader, `EXECUTION_PROVIDER=auto`; builds from npm and Debian packages alone) or `cuda`
     * (`Dockerfile.cuda`: the CUDA runtime, onnxruntime's CUDA provider downloaded at build time). docs/gpu.md.
     */
    image: z.enum(['webgpu', 'cuda']).default('webgpu'),
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

// Every task of the registry may be configured, under its key.
const taskEntries = Object.fromEntries(TASK_KEYS.map((key) => [key, TaskConfig.optional()])) as Record<
  TaskKey,
  z.ZodOptional<typeof TaskConfig>
>;

/** The configuration's fields, before the checks across fields ({@link checkConfig}). */
const ConfigFields = z
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
    /** One entry per task to deploy, by its key ({@link TASK_KEYS}); a task left out is not deployed. */
    tasks: z.object(taskEntries).strict(),
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
  .strict();

/** The configuration schema; {@link InferletConfig} is its type. */
export const InferletConfigSchema = ConfigFields.superRefine(checkConfig);

/** The configuration's fields as parsed, before the checks across fields. */
export type ConfigFields = z.infer<typeof ConfigFields>;
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
