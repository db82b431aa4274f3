/**
 * The deployment configuration a plan writes (`--write deploy/planned.json`): an override that
 * `cdk deploy -c inferletConfig=<file>` merges over the defaults, checked with the infra's own loader.
 */
import { TASK_DESCRIPTORS, type TaskName } from '../../functions/core/tasks/descriptors.ts';
import { DEFAULT_CONFIG, mergeOverDefaults, parseConfig } from '../../infra/config/index.ts';
import { GPU_TARGET_UTILISATION } from './assumptions.ts';
import type { Plan } from './plan.ts';

/**
 * The configuration override of `plan`: the task's Lambda functions at the chosen memory (with provisioned
 * concurrency where the plan takes it), a GPU service sized for the rate where the GPU tier is cheaper, the
 * API's throttle raised to the rate, and the region.
 *
 * @throws InvalidConfigError when the infra's schema refuses it (a bug in the planner, not in the input).
 */
export function plannedConfig(plan: Plan, region: string): Record<string, unknown> {
  const { task, rps } = plan.inputs;
  const descriptor = TASK_DESCRIPTORS[task as TaskName];
  if (!descriptor)
    throw new Error(`unknown task ${task}; valid: ${Object.keys(TASK_DESCRIPTORS).join(', ')}`);
  const lambdaPick = plan.lambda.chosen;
  const taskConfig: Record<string, unknown> = {};
  if (lambdaPick) {
    const memoryMb = lambdaPick.option.memoryMb;
    taskConfig.lambda = {
      http: {
        memoryMb,
        ...(lambdaPick.mode === 'provisioned' && { provisionedConcurrency: lambdaPick.environments }),
      },
      upload: { memoryMb },
    };
  }
  if (plan.cheaper === 'gpu') {
    const perTask = plan.gpu.throughput.requestsPerSecond * GPU_TARGET_UTILISATION;
    taskConfig.gpu = {
      instanceType: plan.gpu.instanceType,
      minTasks: 1,
      maxTasks: Math.max(2, Math.ceil(plan.gpu.bill.instances * 1.5)),
      requestsPerTarget: Math.max(1, Math.floor(perTask * 60)),
    };
  }
  const throttle = DEFAULT_CONFIG.api.throttle;
  const rateLimit = Math.max(throttle.rateLimit, Math.ceil(rps * 1.5));
  const override = {
    region,
    tasks: { [descriptor.key]: taskConfig },
    api: { throttle: { rateLimit, burstLimit: Math.max(throttle.burstLimit, rateLimit * 2) } },
  };
  parseConfig(mergeOverDefaults(override), `the plan of ${task} at ${rps} requests/s`);
  return override;
}
