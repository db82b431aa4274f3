/** Reads the account facts the doctor judges: Lambda's concurrency limit, the CDK bootstrap stack, GPU quotas. */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { Deployment } from '../../infra/deployment.ts';
import type { AccountFacts } from './checks.ts';
import { GPU_VCPU_QUOTAS, gpuVcpusNeeded } from './needs.ts';

/** Reads the account's facts; a missing permission or credential becomes `error` or an unread field. */
export async function readAccount(
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
