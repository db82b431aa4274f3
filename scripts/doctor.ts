/**
 * `npm run doctor`: what a deployment of this configuration needs before `cdk deploy`, checked where it can
 * be. Without AWS credentials it lists the prerequisites and says what it could not check; with them it also
 * reads the account's quotas and the CDK bootstrap stack.
 *
 *   npm run doctor
 *   npm run doctor -- --profile prod --region eu-west-1 --config deploy/prod.json --inferlet '{"tasks":{...}}'
 *
 * `--config` and `--inferlet` are what `cdk deploy -c inferletConfig=` and `-c inferlet=` take. Exit status:
 * 0 when nothing failed, 1 when a check failed (a quota too small, no bootstrap stack, a bad configuration).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { Node } from 'constructs';
import { loadConfig } from '../infra/config/index.ts';
import { type Deployment, resolveDeployment } from '../infra/deployment.ts';

/** The local model repository the deploy publishes (as `infra/app.ts` has it, without loading aws-cdk-lib). */
const MODEL_REPOSITORY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'models');

/** Lambda refuses a reservation that leaves fewer unreserved concurrent executions than this. */
export const MIN_UNRESERVED_CONCURRENCY = 100;

/** The EC2 on-demand vCPU quotas (Service Quotas, service `ec2`) of the GPU instance families. */
export const GPU_VCPU_QUOTAS = Object.freeze({
  gvt: { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' },
  p: { code: 'L-417A185B', name: 'Running On-Demand P instances' },
} as const);

/** vCPUs of an EC2 size; the GPU families the configuration accepts (g4dn, g5, g6, g6e, p3...) follow it. */
const SIZE_VCPUS: Readonly<Record<string, number>> = Object.freeze({
  xlarge: 4,
  '2xlarge': 8,
  '4xlarge': 16,
  '8xlarge': 32,
  '12xlarge': 48,
  '16xlarge': 64,
  '24xlarge': 96,
  '48xlarge': 192,
});

/**
 * vCPUs of a GPU instance type, from its size (`g4dn.xlarge` -> 4), or `undefined` for a size the table
 * does not know (e.g. `metal`).
 */
export function instanceVcpus(instanceType: string): number | undefined {
  return SIZE_VCPUS[instanceType.split('.')[1] ?? ''];
}

/**
 * The on-demand GPU vCPUs a deployment can run at its peak, per quota: each GPU service's `maxTasks` plus
 * the one spare instance a rolling deployment starts, times the instance type's vCPUs.
 */
export function gpuVcpusNeeded(
  deployment: Deployment,
): { quota: keyof typeof GPU_VCPU_QUOTAS; vcpus: number; unknown: string[] }[] {
  const needs = new Map<keyof typeof GPU_VCPU_QUOTAS, { vcpus: number; unknown: string[] }>();
  for (const task of deployment.tasks) {
    if (!task.gpu) continue;
    const quota = task.gpu.instanceType.startsWith('p') ? 'p' : 'gvt';
    const need = needs.get(quota) ?? { vcpus: 0, unknown: [] };
    const vcpus = instanceVcpus(task.gpu.instanceType);
    if (vcpus === undefined) need.unknown.push(task.gpu.instanceType);
    else need.vcpus += vcpus * (task.gpu.maxTasks + 1);
    needs.set(quota, need);
  }
  return [...needs].map(([quota, need]) => ({ quota, ...need }));
}

/** The Lambda concurrency a deployment takes from the account: reserved and provisioned, and the upload caps. */
export function lambdaConcurrencyNeeded(deployment: Deployment): {
  readonly reserved: number;
  readonly provisioned: number;
  readonly uploadCaps: number;
} {
  let reserved = 0;
  let provisioned = 0;
  let uploadCaps = 0;
  for (const task of deployment.tasks) {
    if (!task.lambda) continue;
    for (const fn of [task.lambda.http, task.lambda.upload]) {
      reserved += fn.reservedConcurrency ?? 0;
      // Provisioned environments of a function without a reservation come out of the unreserved pool.
      if (!fn.reservedConcurrency) provisioned += fn.provisionedConcurrency ?? 0;
    }
    if (task.uploads.consumers.includes('lambda')) uploadCaps += task.lambda.upload.maxConcurrency ?? 0;
  }
  return { reserved, provisioned, uploadCaps };
}

/** One prerequisite: what it is, and whether it needs an AWS call to be checked. */
export interface Prerequisite {
  readonly id:
    | 'node'
    | 'models'
    | 'region'
    | 'docker'
    | 'alarms'
    | 'credentials'
    | 'bootstrap'
    | 'lambda-concurrency'
    | 'gpu-quota';
  readonly title: string;
  readonly aws: boolean;
}

/** What a deployment needs, in the order the doctor checks it. */
export function prerequisites(deployment: Deployment): Prerequisite[] {
  const gpu = deployment.tasks.some((task) => task.gpu);
  const list: Prerequisite[] = [
    { id: 'node', title: 'Node.js 20 or later (the CDK app and the bundler run on it)', aws: false },
    {
      id: 'models',
      title: 'models/ holds every configured model version (npm run models:build)',
      aws: false,
    },
    {
      id: 'region',
      title: gpu
        ? 'a region (configuration "region", --region or the profile): the GPU tier needs one'
        : 'a region (configuration "region", --region or the profile)',
      aws: false,
    },
  ];
  if (gpu)
    list.push({
      id: 'docker',
      title: 'a Docker engine and internet access: cdk deploy builds the GPU image from the Dockerfile',
      aws: false,
    });
  list.push(
    {
      id: 'alarms',
      title: 'alarm subscribers (monitoring.alarmEmails; required outside the dev profile)',
      aws: false,
    },
    { id: 'credentials', title: 'AWS credentials for the account (--profile or the environment)', aws: true },
    {
      id: 'bootstrap',
      title: 'the CDK bootstrap stack CDKToolkit in the region (npx cdk bootstrap)',
      aws: true,
    },
    {
      id: 'lambda-concurrency',
      title: `Lambda concurrency for reservations, provisioned environments and upload caps, leaving ${MIN_UNRESERVED_CONCURRENCY} unreserved`,
      aws: true,
    },
  );
  if (gpu)
    list.push({
      id: 'gpu-quota',
      title: `EC2 on-demand GPU vCPU quota (${gpuVcpusNeeded(deployment)
        .map(({ quota, vcpus }) => `${GPU_VCPU_QUOTAS[quota].name} ${GPU_VCPU_QUOTAS[quota].code}: ${vcpus}`)
        .join('; ')}); a new account's is often 0`,
      aws: true,
    });
  return list;
}

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

/** Reads the account's facts; a missing permission or credential becomes `error` or an unread field. */
async function readAccount(
  deployment: Deployment,
  options: { region: string; profile?: string },
): Promise<AccountFacts> {
  const clientConfig = { region: options.region, ...(options.profile && { profile: options.profile }) };
  const lambda = new LambdaClient(clientConfig);
  let lambdaLimit: number | undefined;
  try {
    const settings = await lambda.send(new GetAccountSettingsCommand({}));
    lambdaLimit = settings.AccountLimit?.ConcurrentExecutions;
  } catch (error) {
    const name = (error as Error).name;
    if (
      name === 'CredentialsProviderError' ||
      name === 'UnrecognizedClientException' ||
      name === 'InvalidSignatureException'
    )
      return { error: `no usable AWS credentials (${(error as Error).message.split('\n')[0]})` };
    if (name !== 'AccessDeniedException') return { error: (error as Error).message };
  }
  let bootstrapStatus: string | null | undefined;
  try {
    const stacks = await new CloudFormationClient(clientConfig).send(
      new DescribeStacksCommand({ StackName: 'CDKToolkit' }),
    );
    bootstrapStatus = stacks.Stacks?.[0]?.StackStatus ?? null;
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) bootstrapStatus = null;
  }
  const gpuQuotas: Partial<Record<keyof typeof GPU_VCPU_QUOTAS, number>> = {};
  const quotas = new ServiceQuotasClient(clientConfig);
  for (const { quota } of gpuVcpusNeeded(deployment)) {
    try {
      const answer = await quotas.send(
        new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: GPU_VCPU_QUOTAS[quota].code }),
      );
      if (answer.Quota?.Value !== undefined) gpuQuotas[quota] = answer.Quota.Value;
    } catch {
      // Left unread: reported as unchecked.
    }
  }
  return { bootstrapStatus, ...(lambdaLimit !== undefined && { lambdaLimit }), gpuQuotas };
}

/** The configuration as `cdk` would load it: `cdk.json`'s context, then the command line's. */
function contextNode(context: Record<string, unknown>): Node {
  return { tryGetContext: (key: string) => context[key] } as unknown as Node;
}

function dockerVersion(): string | undefined {
  try {
    return `Docker ${execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim()}`;
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      region: { type: 'string' },
      config: { type: 'string' },
      inferlet: { type: 'string' },
    },
  });
  const cdkContext =
    (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
  const deployment = resolveDeployment(
    loadConfig(
      contextNode({
        ...cdkContext,
        ...(values.config && { inferletConfig: values.config }),
        ...(values.inferlet && { inferlet: values.inferlet }),
      }),
    ),
    MODEL_REPOSITORY_DIR,
  );
  const region =
    values.region ?? deployment.config.region ?? process.env.AWS_REGION ?? process.env.CDK_DEFAULT_REGION;
  const gpu = deployment.tasks.some((task) => task.gpu);

  console.log('Prerequisites of this deployment:');
  for (const item of prerequisites(deployment)) console.log(`  - ${item.title}${item.aws ? ' [AWS]' : ''}`);
  const results = [
    ...judgeLocal(deployment, {
      nodeVersion: process.version,
      ...(region && { region }),
      ...(gpu && { docker: dockerVersion() }),
    }),
    ...(region
      ? judgeAccount(
          deployment,
          await readAccount(deployment, { region, ...(values.profile && { profile: values.profile }) }),
        )
      : judgeAccount(deployment, { error: 'no region to ask' })),
  ];
  console.log('\nChecks:');
  for (const result of results)
    console.log(`  ${result.status.toUpperCase().padEnd(9)} ${result.id}: ${result.detail}`);
  const unchecked = results.filter((r) => r.status === 'unchecked').map((r) => r.id);
  if (unchecked.length)
    console.log(`\nNot checked: ${unchecked.join(', ')} (run again with credentials for the account)`);
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if ((error as Error).name !== 'InvalidConfigError') throw error;
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
