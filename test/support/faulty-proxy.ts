import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP proxy in front of an S3 endpoint that answers chosen requests with S3's 500 InternalError. */
export interface FaultyProxy {
  readonly endpoint: string;
  /** Fails the next `count` requests that `match` accepts with a 500. */
  failNext(count: number, match: (method: string, path: string) => boolean): void;
  /** Requests seen, as `METHOD path` (decoded). */
  readonly seen: string[];
  close(): Promise<void>;
}

const INTERNAL_ERROR =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>';

/**
 * Starts the proxy: a real socket, so the SDK's own deserialiser and retry logic see a genuine S3 5xx —
 * the one fault of S3 that cannot be caused otherwise.
 */
export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const rules: { count: number; match: (method: string, path: string) => boolean }[] = [];
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    seen.push(`${method} ${path}`);
    const rule = rules.find((r) => r.count > 0 && r.match(method, path));
    if (rule) {
      rule.count--;
      req.resume();
      res
        .writeHead(500, { 'content-type': 'application/xml', 'x-amz-request-id': 'INJECTED' })
        .end(INTERNAL_ERROR);
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failNext: (count, match) => rules.push({ count, match }),
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
