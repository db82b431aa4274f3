/**
 * The CDK app: `npx cdk synth` (or `npm run synth`) runs this file. Account and region stay unresolved,
 * so synthesis needs no credentials; AwsSolutions checks (cdk-nag) fail the synth on any finding that is
 * neither fixed nor acknowledged with a reason.
 */
import { pathToFileURL } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InferletStack, type InferletStackProps } from './stacks/inferlet-stack.ts';

/** What {@link createInferletApp} builds. */
export interface InferletApp {
  readonly app: App;
  readonly stack: InferletStack;
}

/**
 * Builds the app with its one stack, `Inferlet`, and the AwsSolutions rule pack.
 *
 * @example
 * ```ts
 * const { app } = createInferletApp({ context: { 'aws:cdk:bundling-stacks': [] } });
 * app.synth(); // throws when a cdk-nag finding is left unacknowledged
 * ```
 */
export function createInferletApp(appProps: AppProps = {}, stackProps: InferletStackProps = {}): InferletApp {
  const app = new App(appProps);
  const stack = new InferletStack(app, 'Inferlet', {
    description: 'Serverless ONNX inference: model bucket, native layers, image (OCR) function',
    ...stackProps,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  createInferletApp().app.synth();
}
