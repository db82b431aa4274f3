import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { EMBEDDED_S3_CREDENTIALS, EMBEDDED_S3_REGION } from '../../functions/server/embedded-s3.ts';

/** `npm start`'s server in a child process, on the embedded default, ready to serve. */
export interface LocalServer {
  readonly child: ChildProcess;
  /** What it printed so far on stdout and stderr. */
  readonly output: { stdout: string; stderr: string };
  /** A client of its embedded S3. */
  readonly s3: S3Client;
  /**
   * Sends one request to its embedded S3 with `path` exactly as given: unlike `fetch` or the SDK, nothing
   * resolves `..` or re-encodes it, as a hostile client would send it.
   */
  s3Request(
    method: string,
    path: string,
    body?: string,
    headers?: Readonly<Record<string, string>>,
  ): Promise<{ status: number; body: string }>;
  /** The process id of its embedded S3 server (a child of the server), if one runs now. */
  embeddedS3Pid(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Options of {@link startLocalServer}. */
export interface LocalServerOptions {
  /** Holds the embedded S3 data (`data/`) and the model cache (`cache/`); reuse it to restart on the same data. */
  readonly directory: string;
  readonly port: number;
  readonly s3Port: number;
  /** Extra environment, e.g. `LOG_LEVEL`. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts `functions/server/main.ts` serving the image task and waits until `/v2/health/ready` answers 200. */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const output = { stdout: '', stderr: '' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/server/main.ts'], {
    env: {
      ...process.env,
      PORT: String(options.port),
      S3_PORT: String(options.s3Port),
      S3_DATA_DIR: join(options.directory, 'data'),
      MODEL_CACHE_DIR: join(options.directory, 'cache'),
      TASKS: 'image/ocr',
      // The embedded bucket, not whatever the caller's environment points at.
      MODEL_REPOSITORY: '',
      AWS_ENDPOINT_URL_S3: '',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output.stderr += chunk;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${options.s3Port}`,
    region: EMBEDDED_S3_REGION,
    credentials: EMBEDDED_S3_CREDENTIALS,
    forcePathStyle: true,
  });
  const s3Request = (
    method: string,
    path: string,
    body = '',
    headers: Readonly<Record<string, string>> = {},
  ) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sent = request(
        {
          host: '127.0.0.1',
          port: options.s3Port,
          method,
          path,
          headers: { 'content-length': Buffer.byteLength(body), 'content-type': 'text/plain', ...headers },
        },
        (answer) => {
          let text = '';
          answer.setEncoding('utf8');
          answer.on('data', (chunk: string) => {
            text += chunk;
          });
          answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: text }));
        },
      );
      sent.on('error', reject);
      sent.end(body);
    });
  // s3rver runs as `node --openssl-legacy-provider -e ...`; tsx's esbuild is a child of the server too.
  const embeddedS3Pid = async () => {
    if (child.pid === undefined) return undefined;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const [stat, cmdline] = await Promise.all([
        readFile(`/proc/${entry}/stat`, 'utf8'),
        readFile(`/proc/${entry}/cmdline`, 'utf8'),
      ]).catch(() => ['', '']);
      // The parent id is the 2nd field after the command name, which is in parentheses.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === child.pid && cmdline.includes('--openssl-legacy-provider')) return Number(entry);
    }
    return undefined;
  };
  for (let i = 0; i < 600; i++) {
    const ready = await fetch(`http://127.0.0.1:${options.port}/v2/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { child, output, s3, s3Request, embeddedS3Pid, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`server did not become ready:\n${output.stdout}${output.stderr}`);
}
