import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { loadSettings } from '../config/env.ts';
import { InferletError, PayloadTooLargeError, toHttpError } from '../errors.ts';
import type { InferenceService } from '../inference-service.ts';
import { describeError, log } from '../log.ts';
import { mediaTypeOf } from '../tasks/request-body.ts';
import { oipRoutes } from './oip-routes.ts';

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  readonly service: InferenceService;
  /** Largest accepted request body in bytes; default `MAX_BODY_BYTES` or 6 MB. */
  readonly maxBodyBytes?: number;
}

/** `MAX_BODY_BYTES` from the settings, failing loudly on a value that is not a positive integer. */
export function maxBodyBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return loadSettings(env).MAX_BODY_BYTES;
}

/**
 * The HTTP interface, the same behind every door (local server, container, Lambda):
 * `POST /v1/<modality>/<task>` per served task, the OIP v2 routes, and JSON errors `{ "error": "..." }`.
 */
export function createHttpApp(options: HttpAppOptions): Hono {
  const { service } = options;
  const maxSize = options.maxBodyBytes ?? maxBodyBytesFromEnv();
  const app = new Hono();

  app.use(
    '*',
    bodyLimit({
      maxSize,
      onError: () => {
        throw new PayloadTooLargeError(`request body is larger than the limit of ${maxSize} bytes`);
      },
    }),
  );

  for (const { definition } of service.tasks()) {
    app.post(definition.route, async (c) => {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      const result = await service.infer(definition.name, {
        mediaType: mediaTypeOf(c.req.header('content-type')),
        bytes,
      });
      return c.json(result);
    });
  }
  app.route('/', oipRoutes(service));

  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    const { status, message } = toHttpError(error);
    if (error instanceof InferletError) {
      log.info('request refused', {
        method: c.req.method,
        path: c.req.path,
        status,
        errorName: error.name,
        errorMessage: message,
      });
    } else {
      log.error('request failed', {
        method: c.req.method,
        path: c.req.path,
        status,
        ...describeError(error),
      });
    }
    return c.json({ error: message }, status as 400);
  });
  return app;
}
