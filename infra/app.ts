/**
 * The CDK app: `npx cdk synth` (or `npm run synth`) runs this file. The account stays unresolved and the
 * region comes from the configuration or `CDK_DEFAULT_REGION`, so synthesis needs no credentials; the configuration comes from CDK context (see `config.ts`) and is
 * validated before anything is built; AwsSolutions checks (cdk-nag) fail the synth on any finding that is
 * neither fixed nor acknowledged with a reason.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InvalidConfigError, loadConfig } from './config/index.ts';
import { type Deployment, resolveDeployment } from './deployment.ts';
import { InferletStack, type InferletStackProps } from './stacks/inferlet-stack.ts';

/** The local model repository the deploy publishes and the configuration is checked against. */
export const MODEL_REPOSITORY_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'models');

/** What {@link createInferletApp} builds. */
export interface InferletApp {
  readonly app: App;
  readonly stack: InferletStack;
}

/** Stack props a caller may set; the deployment comes from the app's context. */
export type InferletAppStackProps = Omit<InferletStackProps, 'deployment' | 'repositoryDir'> & {
  /** The local model repository; default {@link MODEL_REPOSITORY_DIR}. */
  readonly repositoryDir?: string;
};

/**
 * Builds the app with its one stack, `Inferlet`, and the AwsSolutions rule pack.
 *
 * @throws {InvalidConfigError} when the configuration in the context does not validate or resolve.
 * @example
 * ```ts
 * const { app } = createInferletApp({ context: { 'aws:cdk:bundling-stacks': [], inferlet: { tasks: { speech: null } } } });
 * app.synth(); // throws when a cdk-nag finding is left unacknowledged
 * ```
 */
export function createInferletApp(
  appProps: AppProps = {},
  stackProps: InferletAppStackProps = {},
): InferletApp {
  const app = new App(appProps);
  const repositoryDir = stackProps.repositoryDir ?? MODEL_REPOSITORY_DIR;
  const deployment = resolveDeployment(loadConfig(app.node), repositoryDir);
  const region = stackRegion(deployment);
  const stack = new InferletStack(app, 'Inferlet', {
    description: 'Serverless ONNX inference: Lambda and GPU tiers, HTTP API, uploads, monitoring',
    // A region without an account: availability zones stay `Fn::GetAZs`, so synthesis needs no credentials.
    ...(region && { env: { region } }),
    ...stackProps,
    deployment,
    repositoryDir,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/**
 * The stack's region: the configuration's `region`, else `CDK_DEFAULT_REGION` (which the CDK CLI sets from the
 * AWS profile), else none, which only a deployment without a GPU tier may have.
 *
 * @throws {InvalidConfigError} when a task has a GPU tier and no region is known.
 */
export function stackRegion(deployment: Deployment): string | undefined {
  const region = deployment.config.region ?? (process.env.CDK_DEFAULT_REGION || undefined);
  const gpuTasks = deployment.tasks.filter((task) => task.gpu).map((task) => task.key);
  if (!region && gpuTasks.length > 0)
    throw new InvalidConfigError(
      `invalid Inferlet configuration: region: a GPU tier (${gpuTasks.join(', ')}) needs the stack's region, ` +
        'because its load balancer access logs go to a regional delivery service; set "region" in the ' +
        'configuration or deploy with an AWS profile that has one (CDK_DEFAULT_REGION)',
    );
  return region;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    createInferletApp().app.synth();
  } catch (error) {
    if ((error as Error).name !== 'InvalidConfigError') throw error;
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
