/**
 * What a deployment needs from the account and the machine (`npm run doctor`): Lambda concurrency, GPU
 * vCPU quotas by instance family, and the list of prerequisites in the order the doctor checks them.
 */
import type { Deployment } from '../../infra/deployment.ts';

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
