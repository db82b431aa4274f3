/**
 * The deployment's configuration (see `load.ts` for how it is given and merged): one import for the CDK
 * app, the stack and the scripts.
 */
export { HTTP_API_TIMEOUT_SECONDS } from './checks.ts';
export { DEFAULT_CONFIG, OPT_IN_TASK_DEFAULTS, TASK_DEFAULTS } from './defaults.ts';
export { InvalidConfigError, loadConfig, mergeConfig, mergeOverDefaults, parseConfig } from './load.ts';
export {
  type ApiAuth,
  type GpuNetworkConfig,
  type GpuServiceSizing,
  type GpuTierConfig,
  type InferletConfig,
  InferletConfigSchema,
  type LambdaFunctionSettings,
  type TaskConfig,
  type UploadFunctionSettings,
} from './schema.ts';
export { TASK_KEYS, type TaskKey, taskOfKey } from './tasks.ts';
