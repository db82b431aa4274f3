import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { createRuntime } from '../runtime.ts';
import { taskModelFromEnv } from '../tasks/served-model.ts';
import type { TaskDefinition } from '../tasks/types.ts';

/** A Lambda handler for API Gateway HTTP API and Function URL events (payload format 2.0). */
export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * Turns the HTTP app into a Lambda handler. Hono's adapter builds a `Request` from the event (decoding
 * `isBase64Encoded` bodies) and the event result from the `Response`; nothing else happens here.
 */
export function createLambdaHttpHandler(app: Hono): HttpHandler {
  // Hono types its own copy of the event shapes; they are structurally the AWS ones.
  return handle(app) as unknown as HttpHandler;
}

/**
 * The Lambda HTTP handler of one task function. Models start loading during the init phase (not awaited),
 * so the first request finds them loading or ready.
 *
 * @example
 * ```ts
 * export const handler = createTaskHttpHandler(imageOcrTask);
 * ```
 */
export function createTaskHttpHandler(definition: TaskDefinition): HttpHandler {
  const { service, app } = createRuntime({ tasks: [{ definition, model: taskModelFromEnv(definition) }] });
  void service.warm();
  return createLambdaHttpHandler(app);
}
