/**
 * The doctor's verdicts: what the account's numbers and this machine say of each prerequisite. Pure, so
 * they are tested without AWS.
 */
import type { Deployment } from '../../infra/deployment.ts';
import {
  GPU_VCPU_QUOTAS,
  gpuVcpusNeeded,
  lambdaConcurrencyNeeded,
  MIN_UNRESERVED_CONCURRENCY,
  type Prerequisite,
} from './needs.ts';

/** The outcome of one prerequisite. */
export interface CheckResult {
  readonly id: Prerequisite['id'];
  readonly status: 'ok' | 'warn' | 'fail' | 'unchecked';
  readonly detail: string;
}

/** The account's numbers the AWS checks compare against; each `undefined` when it could not be read. */
export interface AccountFacts {
  readonly error?: string;
  readonly bootstrapStatus?: string | null;
  readonly lambdaLimit?: number;
  readonly gpuQuotas?: Partial<Record<keyof typeof GPU_VCPU_QUOTAS, number>>;
}

/** Judges the AWS prerequisites of `deployment` against what was read from the account. */
export function judgeAccount(deployment: Deployment, facts: AccountFacts): CheckResult[] {
  const gpu = gpuVcpusNeeded(deployment);
  const ids: Prerequisite['id'][] = [
    'credentials',
    'bootstrap',
    'lambda-concurrency',
    ...(gpu.length ? (['gpu-quota'] as const) : []),
  ];
  if (facts.error)
    return ids.map((id) => ({ id, status: 'unchecked', detail: `could not check: ${facts.error}` }));
  const results: CheckResult[] = [{ id: 'credentials', status: 'ok', detail: 'credentials accepted' }];
  results.push(
    facts.bootstrapStatus === undefined
      ? { id: 'bootstrap', status: 'unchecked', detail: 'could not read the CDKToolkit stack' }
      : facts.bootstrapStatus === null
        ? { id: 'bootstrap', status: 'fail', detail: 'no CDKToolkit stack: run npx cdk bootstrap' }
        : /_COMPLETE$/.test(facts.bootstrapStatus) && !/ROLLBACK|DELETE/.test(facts.bootstrapStatus)
          ? { id: 'bootstrap', status: 'ok', detail: `CDKToolkit is ${facts.bootstrapStatus}` }
          : { id: 'bootstrap', status: 'fail', detail: `CDKToolkit is ${facts.bootstrapStatus}` },
  );
  const { reserved, provisioned, uploadCaps } = lambdaConcurrencyNeeded(deployment);
  if (facts.lambdaLimit === undefined) {
    results.push({
      id: 'lambda-concurrency',
      status: 'unchecked',
      detail: 'could not read the account settings',
    });
  } else {
    const need = reserved + MIN_UNRESERVED_CONCURRENCY;
    const detail = `account limit ${facts.lambdaLimit}; reserved ${reserved} + ${MIN_UNRESERVED_CONCURRENCY} unreserved = ${need}; provisioned ${provisioned} and upload caps ${uploadCaps} come out of the unreserved pool`;
    results.push(
      facts.lambdaLimit < need
        ? {
            id: 'lambda-concurrency',
            status: 'fail',
            detail: `${detail}: request a higher concurrency limit or reserve less`,
          }
        : facts.lambdaLimit - reserved < provisioned + uploadCaps + MIN_UNRESERVED_CONCURRENCY / 2
          ? {
              id: 'lambda-concurrency',
              status: 'warn',
              detail: `${detail}: HTTP functions may be throttled under load`,
            }
          : { id: 'lambda-concurrency', status: 'ok', detail },
    );
  }
  if (gpu.length) {
    const problems: string[] = [];
    const lines: string[] = [];
    let unchecked = false;
    for (const { quota, vcpus, unknown } of gpu) {
      const have = facts.gpuQuotas?.[quota];
      const { name, code } = GPU_VCPU_QUOTAS[quota];
      if (unknown.length) problems.push(`vCPUs of ${unknown.join(', ')} unknown: check ${code} by hand`);
      if (have === undefined) unchecked = true;
      else if (have < vcpus)
        problems.push(`${name} (${code}) is ${have} vCPUs, the GPU tier needs ${vcpus}: request an increase`);
      else lines.push(`${name} (${code}) ${have} >= ${vcpus}`);
    }
    results.push(
      problems.length
        ? { id: 'gpu-quota', status: 'fail', detail: problems.join('; ') }
        : unchecked
          ? { id: 'gpu-quota', status: 'unchecked', detail: 'could not read the quota' }
          : { id: 'gpu-quota', status: 'ok', detail: lines.join('; ') },
    );
  }
  return results;
}

/** Judges what can be checked on this machine. */
export function judgeLocal(
  deployment: Deployment,
  local: { readonly nodeVersion: string; readonly region?: string; readonly docker?: string },
): CheckResult[] {
  const major = Number(local.nodeVersion.replace(/^v/, '').split('.')[0]);
  const gpu = deployment.tasks.some((task) => task.gpu);
  const { config } = deployment;
  const results: CheckResult[] = [
    major >= 20
      ? { id: 'node', status: 'ok', detail: `Node.js ${local.nodeVersion}` }
      : { id: 'node', status: 'fail', detail: `Node.js ${local.nodeVersion}: 20 or later is needed` },
    {
      id: 'models',
      status: 'ok',
      detail: [...new Set(deployment.tasks.flatMap((task) => [task.lambda?.model.ref, task.gpu?.model.ref]))]
        .filter(Boolean)
        .join(', '),
    },
    local.region
      ? { id: 'region', status: 'ok', detail: local.region }
      : {
          id: 'region',
          status: gpu ? 'fail' : 'warn',
          detail: 'no region: set "region", --region or AWS_REGION',
        },
  ];
  if (gpu)
    results.push(
      local.docker
        ? { id: 'docker', status: 'ok', detail: local.docker }
        : { id: 'docker', status: 'fail', detail: 'no Docker engine answered `docker version`' },
    );
  results.push(
    config.monitoring.alarmEmails.length > 0
      ? { id: 'alarms', status: 'ok', detail: config.monitoring.alarmEmails.join(', ') }
      : {
          id: 'alarms',
          status: 'warn',
          detail: 'no subscriber: alarms reach nobody (allowed in the dev profile only)',
        },
  );
  return results;
}
