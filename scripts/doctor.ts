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
import type { Node } from 'constructs';
import { loadConfig } from '../infra/config/index.ts';
import { resolveDeployment } from '../infra/deployment.ts';
import { readAccount } from './doctor/account.ts';
import { judgeAccount, judgeLocal } from './doctor/checks.ts';
import { prerequisites } from './doctor/needs.ts';

/** The local model repository the deploy publishes (as `infra/app.ts` has it, without loading aws-cdk-lib). */
const MODEL_REPOSITORY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'models');

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
