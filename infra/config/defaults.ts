/**
 * What a deployment gets for what its configuration leaves out: {@link DEFAULT_CONFIG}, and the settings of
 * each task ({@link TASK_DEFAULTS}), written once. Which tasks deploy by default comes from the task
 * descriptors: those whose model `models/` ships.
 */
import type { InferletConfig, TaskConfig } from './schema.ts';
import { TASK_KEYS, type TaskKey, taskOfKey } from './tasks.ts';

const MiB = 1024 * 1024;

/** What differs between the tasks' Lambda defaults. */
interface LambdaSizing {
  /** Memory of both functions, in MB. */
  readonly memoryMb: number;
  readonly httpTimeoutSeconds: number;
  readonly uploadTimeoutSeconds: number;
  /** SQS messages per upload invocation. */
  readonly batchSize: number;
  readonly maxUploadBytes: number;
}

/**
 * A task on Lambda: its HTTP and upload functions with the same memory, the upload queue capped at 5
 * concurrent invocations (so a burst of uploads cannot take the account's concurrency from the HTTP
 * functions) and 3 receives before the dead-letter queue, the model its manifest gives the `lambda` tier.
 */
function onLambda(sizing: LambdaSizing): TaskConfig {
  return {
    lambda: {
      model: {},
      http: { memoryMb: sizing.memoryMb, timeoutSeconds: sizing.httpTimeoutSeconds },
      upload: {
        memoryMb: sizing.memoryMb,
        timeoutSeconds: sizing.uploadTimeoutSeconds,
        batchSize: sizing.batchSize,
        maxConcurrency: 5,
      },
    },
    uploads: { consumers: ['lambda'], maxUploadBytes: sizing.maxUploadBytes, maxReceiveCount: 3 },
  };
}

/**
 * The settings each task starts from, whether the defaults deploy it or a configuration names it.
 * `text-embed` serves an imported encoder: 2048 MB holds any model whose files fit a function's 512 MB
 * `/tmp` (twice the weights plus 256 MB, 1280 MB) and gives a transformer more than one vCPU; its uploads
 * are limited as `text`'s are.
 */
export const TASK_DEFAULTS: Readonly<Record<TaskKey, TaskConfig>> = Object.freeze({
  image: onLambda({
    memoryMb: 3008,
    httpTimeoutSeconds: 30,
    uploadTimeoutSeconds: 120,
    batchSize: 1,
    maxUploadBytes: 50 * MiB,
  }),
  text: onLambda({
    memoryMb: 1024,
    httpTimeoutSeconds: 10,
    uploadTimeoutSeconds: 60,
    batchSize: 5,
    maxUploadBytes: 10 * MiB,
  }),
  speech: onLambda({
    memoryMb: 2048,
    httpTimeoutSeconds: 30,
    uploadTimeoutSeconds: 300,
    batchSize: 1,
    maxUploadBytes: 200 * MiB,
  }),
  'text-embed': onLambda({
    memoryMb: 2048,
    httpTimeoutSeconds: 30,
    uploadTimeoutSeconds: 300,
    batchSize: 1,
    maxUploadBytes: 10 * MiB,
  }),
});

const shipsModel = (key: TaskKey) => taskOfKey(key).shipsModel;
const defaultsOf = (keys: readonly TaskKey[]) =>
  Object.fromEntries(keys.map((key) => [key, TASK_DEFAULTS[key]])) as Partial<Record<TaskKey, TaskConfig>>;

/**
 * Tasks that {@link DEFAULT_CONFIG} leaves out because no model for them ships, with the settings a
 * configuration that names one starts from: `{"tasks":{"text-embed":{"lambda":{"model":{"name":"minilm"}}}}}`
 * deploys text/embed on Lambda with its {@link TASK_DEFAULTS}.
 */
export const OPT_IN_TASK_DEFAULTS: Readonly<Partial<Record<TaskKey, TaskConfig>>> = Object.freeze(
  defaultsOf(TASK_KEYS.filter((key) => !shipsModel(key))),
);

/**
 * What deploys when nothing is configured: the tasks whose models ship (not `text-embed`, see
 * {@link OPT_IN_TASK_DEFAULTS}) on Lambda with the variants their manifests give the `lambda` tier (int8 for
 * text), IAM-authenticated API, `dev` profile, canary rollouts. No GPU tier: it is opt-in (see
 * `tasks.<task>.gpu`), e.g. `-c inferlet='{"region":"eu-west-1","tasks":{"image":{"gpu":{}}}}'`.
 */
export const DEFAULT_CONFIG: InferletConfig = Object.freeze({
  profile: 'dev',
  tasks: defaultsOf(TASK_KEYS.filter(shipsModel)),
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
