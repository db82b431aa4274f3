/**
 * `npm start`: the local server (and the GPU container's server) of every served task on one port.
 * Env: PORT (8080), HOST (127.0.0.1 locally; 0.0.0.0 in a container), TASKS, MODEL_REPOSITORY, MODEL_CACHE_DIR.
 */
import { serve } from '@hono/node-server';
import { describeError, log } from '../core/log.ts';
import { createRuntime } from '../core/runtime.ts';
import { servedTasksFromEnv } from '../tasks.ts';

const port = Number(process.env.PORT ?? 8080);
const hostname = process.env.HOST ?? '127.0.0.1';
const { store, service, app } = createRuntime({ tasks: servedTasksFromEnv() });

const server = serve({ fetch: app.fetch, port, hostname }, (info) => {
  log.info('listening', {
    url: `http://${hostname}:${info.port}`,
    repository: store.location,
    tasks: service.tasks().map((t) => t.definition.name),
  });
  process.stdout.write(
    `Inferlet listening on http://${hostname}:${info.port} (models from ${store.location})\n`,
  );
  for (const { definition } of service.tasks()) {
    process.stdout.write(`  POST http://${hostname}:${info.port}${definition.route}\n`);
  }
});
void service.warm().then(() => log.info('ready', { ready: service.isReady() }));

process.on('uncaughtException', (error) => log.error('uncaught exception', describeError(error)));
process.on('unhandledRejection', (error) => log.error('unhandled rejection', describeError(error)));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
