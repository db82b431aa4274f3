import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Which requests a fault applies to: the method and the decoded path (`/bucket/key`), no query. */
export type RequestMatch = (method: string, path: string) => boolean;

/**
 * A fault the proxy injects in place of (or into) S3's answer:
 * - `status`: S3's XML error with that status (500 `InternalError`, 503 `SlowDown`), upstream untouched;
 * - `delay`: the real answer, `ms` later;
 * - `reset`: the connection is destroyed before any answer (the client sees ECONNRESET or "socket hang up");
 * - `truncate`: the real status and headers (with the full `content-length`), then only the first `bytes`
 *   of the body, then the connection is destroyed.
 */
export type Fault =
  | { readonly kind: 'status'; readonly status: 500 | 503 }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'reset' }
  | { readonly kind: 'truncate'; readonly bytes: number };

/** An HTTP proxy in front of an S3 endpoint that injects faults into chosen requests. */
export interface FaultyProxy {
  readonly endpoint: string;
  /** Injects `fault` into the next `count` requests that `match` accepts (in order, rules first come first). */
  inject(fault: Fault, count: number, match: RequestMatch): void;
  /** Fails the next `count` requests that `match` accepts with S3's 500 InternalError. */
  failNext(count: number, match: RequestMatch): void;
  /** Drops the faults not yet used. */
  clearFaults(): void;
  /** Requests seen, as `METHOD path` (decoded), faulted ones included. */
  readonly seen: string[];
  /** How many seen requests `match` accepts. */
  count(match: RequestMatch): number;
  /** The most requests that were in flight at once since the last {@link FaultyProxy.resetPeak}. */
  readonly peakInFlight: number;
  resetPeak(): void;
  close(): Promise<void>;
}

const ERROR_BODY = {
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
} as const;

const errorXml = (status: 500 | 503) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${ERROR_BODY[status][0]}</Code><Message>${ERROR_BODY[status][1]}</Message></Error>`;

/**
 * Starts the proxy: a real socket, so the SDK's own deserialiser, retry logic and stream handling see
 * genuine S3 errors, slow answers, resets and short bodies — faults of S3 and the network that cannot be
 * caused otherwise.
 *
 * @example
 * ```ts
 * const proxy = await startFaultyProxy(s3.endpoint);
 * proxy.inject({ kind: 'truncate', bytes: 1000 }, 1, (m, p) => m === 'GET' && p.endsWith('/model.onnx'));
 * ```
 */
export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const rules: { fault: Fault; count: number; match: RequestMatch }[] = [];
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let peak = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, truncateAt?: number) => {
    const outgoing = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (truncateAt === undefined) {
          answer.pipe(res);
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= truncateAt) return;
          const part = chunk.subarray(0, truncateAt - sent);
          sent += part.length;
          res.write(part);
          if (sent >= truncateAt) {
            answer.destroy();
            // Flush what was written, then cut the connection short of the announced length.
            res.socket?.end(() => res.socket?.destroy());
          }
        });
        answer.on('end', () => res.end());
      },
    );
    outgoing.on('error', () => res.destroy());
    req.pipe(outgoing);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    seen.push(`${method} ${path}`);
    inFlight++;
    peak = Math.max(peak, inFlight);
    let settled = false;
    const done = () => {
      if (!settled) inFlight--;
      settled = true;
    };
    res.once('close', done);

    const rule = rules.find((r) => r.count > 0 && r.match(method, path));
    if (rule) rule.count--;
    const fault = rule?.fault;
    switch (fault?.kind) {
      case 'status':
        req.resume();
        res
          .writeHead(fault.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'INJECTED' })
          .end(errorXml(fault.status));
        return;
      case 'reset':
        req.resume();
        req.socket.destroy();
        return;
      case 'delay':
        setTimeout(() => forward(req, res), fault.ms);
        return;
      case 'truncate':
        forward(req, res, fault.bytes);
        return;
      default:
        forward(req, res);
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    inject: (fault, count, match) => {
      rules.push({ fault, count, match });
    },
    failNext: (count, match) => {
      rules.push({ fault: { kind: 'status', status: 500 }, count, match });
    },
    clearFaults: () => {
      rules.length = 0;
    },
    seen,
    count: (match) =>
      seen.filter((line) => {
        const space = line.indexOf(' ');
        return match(line.slice(0, space), line.slice(space + 1));
      }).length,
    get peakInFlight() {
      return peak;
    },
    resetPeak: () => {
      peak = inFlight;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
