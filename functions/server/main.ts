/**
 * `npm start`: the local server (and the GPU container's server) of every served task on one port, with
 * the embedded default: an S3 protocol server on loopback holding the model repository (bucket `models`)
 * and an uploads bucket whose `incoming/` objects are processed by the same upload handler as on Lambda.
 *
 * Env (`functions/core/config/env.ts`): PORT (8080), HOST (127.0.0.1), TASKS, MODEL_REPOSITORY (wins over
 * the embedded bucket), MODEL_CACHE_DIR, EMBEDDED_S3 (`off` to run without it), S3_PORT (4568), S3_DATA_DIR
 * (.data/s3). A bad setting stops the process with status 1 before anything starts; so does any failure to
 * start (s3rver, publishing the models, the port being taken). Once started, a crash of s3rver is logged
 * and the server is not ready until its supervisor has restarted it.
 *
 * Under load, each task's requests pass admission control (ADMISSION_CONCURRENCY at once, a queue bounded by
 * ADMISSION_MAX_WAIT_MS; beyond it 503 with Retry-After). On SIGTERM or SIGINT it drains: readiness and new
 * requests answer 503, no upload message is taken any more, what was accepted finishes (within
 * STOP_TIMEOUT_MS), then the port and the embedded S3 close and the process exits 0 (1 if the timeout cut
 * accepted work short). Every thread but the event loop's runs at nice INFERENCE_NICE (10; Linux), so under a
 * burst the loop accepts, refuses and answers health probes before inference takes the CPU.
 */
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { serve } from '@hono/node-server';
import { createSqsUploadHandler } from '../core/adapters/sqs-upload.ts';
import { AdmissionControl } from '../core/admission.ts';
import { loadSettingsOrExit } from '../core/config/env.ts';
import { describeError, log } from '../core/log.ts';
import { publishRepository } from '../core/model-store/publish.ts';
import { createModelStore } from '../core/model-store/store.ts';
import { createRuntime } from '../core/runtime.ts';
import { ThreadPriority } from '../core/thread-priority.ts';
import { UploadProcessor } from '../core/uploads/upload-processor.ts';
import { servedTasksFromEnv } from '../tasks.ts';
import { mountPage } from '../web/page-routes.ts';
import { EMBEDDED_S3_CREDENTIALS, EMBEDDED_S3_REGION, startEmbeddedS3 } from './embedded-s3.ts';
import { deliverLocalUploads } from './local-uploads.ts';
import { pollUploadQueuesFromEnv } from './sqs-poller.ts';

// No process-wide uncaughtException or unhandledRejection handler: a failed start must end the process
// (non-zero), not leave it up with nothing listening. Errors of one request are caught by the HTTP app.
const settings = loadSettingsOrExit('inferlet');
const port = settings.PORT;
const hostname = settings.HOST;
const dataDir = resolve(settings.S3_DATA_DIR);
const MODELS_BUCKET = 'models';
const UPLOADS_BUCKET = 'uploads';

const s3 =
  settings.EMBEDDED_S3 === 'on'
    ? await startEmbeddedS3({
        directory: dataDir,
        port: settings.S3_PORT,
        buckets: [MODELS_BUCKET, UPLOADS_BUCKET],
      })
    : undefined;
const s3Client = s3
  ? new S3Client({
      endpoint: s3.endpoint,
      region: EMBEDDED_S3_REGION,
      credentials: EMBEDDED_S3_CREDENTIALS,
      forcePathStyle: true,
    })
  : undefined;

// An explicit MODEL_REPOSITORY wins; otherwise the models are served through the real S3 path, from the
// embedded bucket, published there from ./models (unchanged files are skipped). That bucket serves this
// machine only, so a local rebuild of models/ replaces what an earlier start published.
const useEmbeddedModels = s3Client !== undefined && settings.MODEL_REPOSITORY === undefined;
if (useEmbeddedModels) {
  await publishRepository({
    from: resolve('models'),
    to: `s3://${MODELS_BUCKET}/`,
    client: s3Client,
    overwrite: true,
  });
}
const store = createModelStore({
  ...(useEmbeddedModels ? { repository: `s3://${MODELS_BUCKET}/`, s3Client } : {}),
});
const { service, app, stats } = createRuntime({ tasks: servedTasksFromEnv(), store });
service.useAdmission(
  new AdmissionControl({
    concurrency: settings.ADMISSION_CONCURRENCY,
    maxWaitMs: settings.ADMISSION_MAX_WAIT_MS,
  }),
);
// The page (`GET /`, `/docs`, `/openapi.json`, `/v1/stats`, `/v1/uploads`): this server's and the GPU
// container's, not the Lambda functions'. Built into dist/web when missing.
await mountPage(app, {
  service,
  stats,
  ...(s3Client ? { uploads: { client: s3Client, bucket: UPLOADS_BUCKET } } : {}),
});
// Models (when published there) and uploads go through the embedded S3 server: while it is down and being
// restarted, the server answers /v2/health/ready with 503.
if (s3) service.dependOn('embedded S3', () => s3.isUp());

const server = serve({ fetch: app.fetch, port, hostname }, (info) => {
  const base = `http://${hostname}:${info.port}`;
  const lines = [
    `Inferlet listening on ${base} (models from ${store.location})`,
    `  try it: ${base}/   API docs: ${base}/docs`,
  ];
  for (const { definition } of service.tasks()) lines.push(`  POST ${base}${definition.route}`);
  lines.push(`  GET  ${base}/v2/health/ready   POST ${base}/v2/repository/index`);
  if (s3) {
    lines.push(
      `Embedded S3 at ${s3.endpoint} (any access key; data in ${dataDir})`,
      `  buckets: ${MODELS_BUCKET} (model repository), ${UPLOADS_BUCKET} (incoming/<modality>/[<task>/]<file> -> results/ or errors/ <same path>.json)`,
      `  try: curl -T scan.png ${s3.endpoint}/${UPLOADS_BUCKET}/incoming/image/scan.png`,
      `       curl ${s3.endpoint}/${UPLOADS_BUCKET}/results/image/scan.png.json`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
});
// Listening fails asynchronously (EADDRINUSE, EACCES): stop s3rver and exit non-zero rather than stay up.
server.once('error', (error) => {
  log.error('server failed to start', describeError(error));
  void stopAndExit(1);
});
const threads = new ThreadPriority(settings.INFERENCE_NICE).keepLowered(1000);
void service.warm().then(() => {
  threads.lower();
  log.info('ready', { ready: service.isReady() });
});

const localUploads =
  s3 && s3Client
    ? deliverLocalUploads({
        s3,
        client: s3Client,
        bucket: UPLOADS_BUCKET,
        handler: createSqsUploadHandler(new UploadProcessor({ service, s3: s3Client }), 1),
      })
    : undefined;

// The GPU container consumes the upload queues it is given (UPLOAD_QUEUE_URLS).
const poller = pollUploadQueuesFromEnv(service, s3Client);

/** Closes the server and s3rver, then exits with `code`; exits anyway after 5 s. */
async function stopAndExit(code: number): Promise<never> {
  setTimeout(() => process.exit(code), 5000).unref();
  await new Promise<void>((done) => server.close(() => done()));
  await s3?.stop();
  process.exit(code);
}

/**
 * Graceful shutdown: stop taking requests and upload messages, let what was taken finish within
 * STOP_TIMEOUT_MS, then close. Upload messages not started stay queued (SQS redelivers them after their
 * visibility timeout; the embedded uploads are listed again at the next start).
 */
async function drainAndExit(signal: string): Promise<never> {
  const started = performance.now();
  log.info('stopping: draining accepted work', {
    signal,
    requests: service.requestsInFlight(),
    timeoutMs: settings.STOP_TIMEOUT_MS,
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((done) => {
    timer = setTimeout(() => done(true), settings.STOP_TIMEOUT_MS);
  });
  const drained = Promise.all([service.stop(), localUploads?.stop(), poller?.stop()]).then(() => false);
  const cut = await Promise.race([drained, timedOut]);
  clearTimeout(timer);
  if (cut) {
    log.error('stop timeout reached with accepted work unfinished', {
      requests: service.requestsInFlight(),
      timeoutMs: settings.STOP_TIMEOUT_MS,
    });
    // What is still running is cut: its clients get a closed connection rather than wait for the kill.
    if ('closeAllConnections' in server) server.closeAllConnections();
  } else {
    log.info('drained', { ms: Math.round(performance.now() - started) });
  }
  return stopAndExit(cut ? 1 : 0);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void drainAndExit(signal));
}
