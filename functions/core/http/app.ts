import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { loadSettings } from '../config/env.ts';
import {
  ECHOED_CHARS,
  echoed,
  InferletError,
  OverloadedError,
  PayloadTooLargeError,
  toHttpError,
} from '../errors.ts';
import type { InferenceService } from '../inference-service.ts';
import { describeError, log } from '../log.ts';
import { NO_TASK, SOURCES } from '../metric-names.ts';
import { CLIENT_CLOSED_REQUEST } from '../metrics.ts';
import { assertIdentityEncoding, mediaTypeOf } from '../tasks/request-body.ts';
import { oipRoutes } from './oip-routes.ts';
import type { RequestStats } from './stats.ts';

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  readonly service: InferenceService;
  /** Largest accepted request body in bytes; default `MAX_BODY_BYTES` or 6 MB. */
  readonly maxBodyBytes?: number;
  /** Where the latency of each task request is kept for `GET /v1/stats` (the page's chart), if anywhere. */
  readonly stats?: RequestStats;
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

  // First, so that it sees every answer, including those of the body limit, onError and notFound.
  app.use('*', outcomeMetrics(service, options.stats));
  // Graceful shutdown: once the service stops, a new request is refused (503) and what was taken is counted
  // until answered, so the server exits only after it. Probes still answer (readiness says 503).
  app.use('*', async (c, next) => {
    if (PROBE.test(c.req.path)) return next();
    const done = service.beginRequest();
    try {
      await next();
    } finally {
      done();
    }
  });
  // Before the body is read: a compressed body is refused unread (415), never inflated or misread. In a
  // response, Accept-Encoding names the request codings the server takes (RFC 7694), on every answer.
  app.use('*', async (c, next) => {
    c.header('Accept-Encoding', 'identity');
    assertIdentityEncoding(c.req.header('content-encoding'));
    await next();
  });
  const tooLarge = () => {
    throw new PayloadTooLargeError(`request body is larger than the limit of ${maxSize} bytes`);
  };
  const limitStream = bodyLimit({ maxSize, onError: tooLarge });
  app.use('*', async (c, next) => {
    // A declared length is judged from the header alone. Hono's bodyLimit looks at `raw.body` first, which
    // makes @hono/node-server build a web Request and stream for every request: the burst of a refused
    // request then costs that for nothing, and an admitted one's body is read through web streams instead
    // of straight from the socket (about a fifth of the server's busy time in a 200-request burst went to it).
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      // Node's parser reads exactly the declared bytes, so the header bounds the body.
      return Number.parseInt(length, 10) > maxSize ? tooLarge() : next();
    }
    return limitStream(c, next);
  });

  for (const { definition } of service.tasks()) {
    app.post(definition.route, async (c) => {
      // Admission is decided as the request arrives: a refusal (503) needs no body, and a burst is decided
      // on as it comes in rather than once every body has been read.
      const ticket = service.reserve(definition.name);
      try {
        const bytes = new Uint8Array(await c.req.arrayBuffer());
        const mediaType = mediaTypeOf(c.req.header('content-type'));
        return c.json(await service.infer(definition.name, { mediaType, bytes }, 'http', ticket));
      } finally {
        ticket.cancel();
      }
    });
  }
  app.route('/', oipRoutes(service));

  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${echoed(c.req.path)}` }, 404));
  app.onError((error, c) => {
    // A path holds the client's names, as long as it likes: the log keeps enough to find the route.
    const request = { method: c.req.method, path: c.req.path.slice(0, ECHOED_CHARS * 4) };
    if (c.req.raw.signal.aborted) {
      // The client closed the connection (while its body was read): no one to answer, and no fault here.
      log.info('request abandoned by the client', { ...request, status: CLIENT_CLOSED_REQUEST });
      return c.body(null, CLIENT_CLOSED_REQUEST as 400);
    }
    const { status, message } = toHttpError(error);
    if (error instanceof OverloadedError) c.header('Retry-After', String(error.retryAfterSeconds));
    if (error instanceof InferletError) {
      // Internals (`detail`, causes) go to the log, the message to the client; not the stack, which is
      // never logged for a refusal and costs ~0.3 ms to build (source maps) on each of a burst's 503s.
      log.info('request refused', { ...request, status, ...refusalFields(error) });
    } else {
      log.error('request failed', { ...request, status, ...describeError(error) });
    }
    return c.json({ error: message }, status as 400);
  });
  return app;
}

/** What the log keeps of a refused request's error: {@link describeError} without reading the stack. */
function refusalFields(error: InferletError): Record<string, unknown> {
  // A cause is rare in a refusal; describeError names the chain (and its stack is dropped).
  if (error.cause !== undefined) return { ...describeError(error), stack: undefined };
  const detail = (error as { detail?: unknown }).detail;
  return {
    errorName: error.name,
    errorMessage: error.message,
    ...(typeof detail === 'string' && { errorDetail: detail }),
  };
}

/** `/v2/models/<name>[/versions/<version>]/infer` */
const OIP_INFER = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?\/infer$/;
/** Liveness and readiness checks: their 503 is an answer ("not yet"), not a failed request. */
const PROBE = /^\/v2\/health\/|\/ready$/;

/**
 * Records the outcome of each request exactly once (`InferenceMetrics.recordOutcome`): every inference
 * request (a task route or OIP infer), failed or not, and every other request that fails, except probes.
 * The task comes from the route, or from the OIP model's task; anything else is {@link NO_TASK}, so a 413 or a
 * 5xx is counted against its task even when it happened before the handler ran.
 */
function outcomeMetrics(service: InferenceService, stats: RequestStats | undefined): MiddlewareHandler {
  const taskOfRoute = new Map(service.tasks().map(({ definition }) => [definition.route, definition.name]));
  return async (c, next) => {
    const started = performance.now();
    await next();
    const { path } = c.req;
    const oipModel = OIP_INFER.exec(path)?.[1];
    const inference = taskOfRoute.has(path) || oipModel !== undefined;
    // A client that left before its answer is counted apart (499, a 4xx), not as a failure of the server.
    const status = c.req.raw.signal.aborted ? CLIENT_CLOSED_REQUEST : c.res.status;
    if (!inference && (status < 400 || PROBE.test(path))) return;
    // After the handler: an OIP component model is known to its task only once that task has loaded.
    const task =
      taskOfRoute.get(path) ?? (oipModel === undefined ? undefined : service.taskOfModel(decoded(oipModel)));
    const latencyMs = performance.now() - started;
    service.metrics.recordOutcome({ task: task ?? NO_TASK, source: SOURCES.http, status, latencyMs });
    if (task !== undefined) stats?.record(task, { at: Date.now(), latencyMs, status });
  };
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
