/**
 * The checks across fields of a configuration: what each field's schema cannot see alone (a tier that a
 * consumer names, sizes that contradict each other, a profile that needs an alarm subscriber).
 */
import type { z } from 'zod';
import type { ConfigFields } from './schema.ts';
import { TASK_KEYS } from './tasks.ts';

/** The HTTP API gives up on an integration after 30 seconds, so an HTTP function never needs longer. */
export const HTTP_API_TIMEOUT_SECONDS = 30;

/** Adds an issue to `ctx` for each contradiction in `config`, with the path of the field to change. */
export function checkConfig(config: ConfigFields, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path, message });
  const tasks = TASK_KEYS.filter((key) => config.tasks[key]);
  if (tasks.length === 0) issue(['tasks'], 'no task is configured; a deployment needs at least one');
  for (const key of tasks) {
    const task = config.tasks[key];
    if (!task) continue;
    if (!task.lambda && !task.gpu)
      issue(['tasks', key], 'has neither a lambda nor a gpu tier; give it one, or remove the task with null');
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
}
