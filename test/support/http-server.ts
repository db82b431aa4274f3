import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createRuntime, type RuntimeOptions } from '../../functions/core/runtime.ts';

/** A real HTTP server of the runtime on a free loopback port. */
export interface TestServer {
  readonly url: string;
  readonly runtime: ReturnType<typeof createRuntime>;
  close(): Promise<void>;
}

/** Starts the same app `npm start` serves, over `node:http`, on an ephemeral port. */
export async function startTestServer(options: RuntimeOptions): Promise<TestServer> {
  const runtime = createRuntime(options);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: runtime.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runtime,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The JSON body of a response, for assertions on arbitrary shapes.
 */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on arbitrary JSON bodies field by field.
export async function readJson(response: Response): Promise<any> {
  return response.json();
}
