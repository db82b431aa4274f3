import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, mergeConfig, parseConfig } from '../../infra/config/index.ts';
import { type Deployment, resolveDeployment } from '../../infra/deployment.ts';
import { judgeAccount, judgeLocal } from '../../scripts/doctor/checks.ts';
import {
  gpuVcpusNeeded,
  instanceVcpus,
  lambdaConcurrencyNeeded,
  prerequisites,
} from '../../scripts/doctor/needs.ts';

const run = promisify(execFile);
/** The local model repository, as the CDK app and the doctor read it. */
const MODEL_REPOSITORY_DIR = resolve('models');

function deploymentOf(override: unknown = {}): Deployment {
  return resolveDeployment(parseConfig(mergeConfig(DEFAULT_CONFIG, override)), MODEL_REPOSITORY_DIR);
}

const TWO_GPU_SERVICES = {
  region: 'eu-west-1',
  tasks: {
    image: { gpu: { instanceType: 'g4dn.xlarge', maxTasks: 2 } },
    text: { gpu: { instanceType: 'g5.2xlarge', maxTasks: 4 } },
    speech: { gpu: { instanceType: 'p3.2xlarge', maxTasks: 1 } },
  },
};

describe('npm run doctor', () => {
  it('lists no GPU prerequisite for the default configuration, and the quota, Docker and region for a GPU tier', () => {
    const lambdaOnly = prerequisites(deploymentOf()).map((p) => p.id);
    const withGpu = prerequisites(deploymentOf(TWO_GPU_SERVICES));

    expect(lambdaOnly).toEqual([
      'node',
      'models',
      'region',
      'alarms',
      'credentials',
      'bootstrap',
      'lambda-concurrency',
    ]);
    expect(withGpu.map((p) => p.id)).toEqual([
      'node',
      'models',
      'region',
      'docker',
      'alarms',
      'credentials',
      'bootstrap',
      'lambda-concurrency',
      'gpu-quota',
    ]);
    expect(withGpu.at(-1)?.title).toContain('Running On-Demand G and VT instances L-DB2E81BA: 52');
    expect(withGpu.at(-1)?.title).toContain('Running On-Demand P instances L-417A185B: 16');
  });

  it('counts each GPU service at its peak, maxTasks plus the spare a rolling deployment starts', () => {
    expect(instanceVcpus('g4dn.xlarge')).toBe(4);
    expect(instanceVcpus('g6e.12xlarge')).toBe(48);
    expect(instanceVcpus('g4dn.metal')).toBeUndefined();
    expect(gpuVcpusNeeded(deploymentOf())).toEqual([]);
    // 4 x (2 + 1) + 8 x (4 + 1); 8 x (1 + 1)
    expect(gpuVcpusNeeded(deploymentOf(TWO_GPU_SERVICES))).toEqual([
      { quota: 'gvt', vcpus: 52, unknown: [] },
      { quota: 'p', vcpus: 16, unknown: [] },
    ]);
  });

  it('fails a GPU quota below the need and a missing bootstrap stack, and passes an account that has both', () => {
    const deployment = deploymentOf(TWO_GPU_SERVICES);
    const status = (facts: Parameters<typeof judgeAccount>[1]) =>
      Object.fromEntries(judgeAccount(deployment, facts).map((r) => [r.id, r.status]));

    expect(status({ bootstrapStatus: null, lambdaLimit: 1000, gpuQuotas: { gvt: 0, p: 16 } })).toEqual({
      credentials: 'ok',
      bootstrap: 'fail',
      'lambda-concurrency': 'ok',
      'gpu-quota': 'fail',
    });
    expect(
      judgeAccount(deployment, {
        bootstrapStatus: null,
        lambdaLimit: 1000,
        gpuQuotas: { gvt: 0, p: 16 },
      }).find((r) => r.id === 'gpu-quota')?.detail,
    ).toBe(
      'Running On-Demand G and VT instances (L-DB2E81BA) is 0 vCPUs, the GPU tier needs 52: request an increase',
    );
    expect(
      status({ bootstrapStatus: 'UPDATE_COMPLETE', lambdaLimit: 1000, gpuQuotas: { gvt: 64, p: 16 } }),
    ).toEqual({ credentials: 'ok', bootstrap: 'ok', 'lambda-concurrency': 'ok', 'gpu-quota': 'ok' });
    expect(status({ bootstrapStatus: 'ROLLBACK_COMPLETE', lambdaLimit: 1000, gpuQuotas: {} })).toMatchObject({
      bootstrap: 'fail',
      'gpu-quota': 'unchecked',
    });
  });

  it('keeps 100 unreserved executions beside the reservations, and warns a 10-execution account about the upload caps', () => {
    const reserving = deploymentOf({
      tasks: { text: { lambda: { http: { reservedConcurrency: 50, provisionedConcurrency: 2 } } } },
    });
    const judge = (limit: number) =>
      judgeAccount(reserving, { bootstrapStatus: 'CREATE_COMPLETE', lambdaLimit: limit }).find(
        (r) => r.id === 'lambda-concurrency',
      )?.status;

    expect(lambdaConcurrencyNeeded(reserving)).toEqual({ reserved: 50, provisioned: 0, uploadCaps: 15 });
    expect(judge(149)).toBe('fail');
    expect(judge(1000)).toBe('ok');
    expect(
      judgeAccount(deploymentOf(), { bootstrapStatus: 'CREATE_COMPLETE', lambdaLimit: 10 }).find(
        (r) => r.id === 'lambda-concurrency',
      )?.status,
    ).toBe('fail');
  });

  it('fails the region and Docker only where a GPU tier needs them', () => {
    const status = (deployment: Deployment, local: Parameters<typeof judgeLocal>[1]) =>
      Object.fromEntries(judgeLocal(deployment, local).map((r) => [r.id, r.status]));

    expect(status(deploymentOf(), { nodeVersion: 'v20.20.2' })).toEqual({
      node: 'ok',
      models: 'ok',
      region: 'warn',
      alarms: 'warn',
    });
    expect(status(deploymentOf(TWO_GPU_SERVICES), { nodeVersion: 'v18.19.0' })).toEqual({
      node: 'fail',
      models: 'ok',
      region: 'fail',
      docker: 'fail',
      alarms: 'warn',
    });
  });

  it('lists the prerequisites without credentials, says what it could not check, and exits 0', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/doctor.ts', '--region', 'eu-west-1'],
      { env: withoutAwsCredentials(), timeout: 30_000 },
    );

    expect(stdout).toContain('Prerequisites of this deployment:');
    expect(stdout).toContain('the CDK bootstrap stack CDKToolkit in the region');
    expect(stdout).toMatch(/UNCHECKED bootstrap: could not check: no usable AWS credentials/);
    expect(stdout).toContain('Not checked: credentials, bootstrap, lambda-concurrency');
  });

  it('exits 1 on a configuration that does not validate, naming the field', async () => {
    const attempt = run(
      process.execPath,
      ['--import', 'tsx', 'scripts/doctor.ts', '--inferlet', '{"tasks":{"image":{"gpu":{"minTasks":0}}}}'],
      { env: withoutAwsCredentials(), timeout: 30_000 },
    );

    await expect(attempt).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('tasks.image.gpu.minTasks: is 0 while the GPU service serves HTTP'),
    });
  });
});

/** The environment with every way to AWS credentials closed, instance metadata included. */
function withoutAwsCredentials(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_')) env[key] = value;
  return {
    ...env,
    NODE_NO_WARNINGS: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_CONFIG_FILE: '/nonexistent/config',
  };
}
