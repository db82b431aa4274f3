import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../support/free-port.ts';

interface Exit {
  readonly code: number | null;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `npm start`'s entry with `env` and waits for it to exit; kills it (and fails) after `limitMs`. */
function runServer(env: Record<string, string>, limitMs = 20_000): Promise<Exit> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/server/main.ts'], {
    env: { ...process.env, NODE_NO_WARNINGS: '1', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server was still running after ${limitMs} ms:\n${stderr}`));
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: performance.now() - started });
    });
  });
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('npm start with a bad setting', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-bad-settings-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['TASKS', 'image/nope'],
    ['PORT', 'abc'],
    ['UPLOAD_CONCURRENCY', 'abc'],
  ])('exits with status 1 at %s=%s, naming the variable on stderr', async (name, value) => {
    const port = await freePort();

    const exit = await runServer({ EMBEDDED_S3: 'off', PORT: String(port), [name]: value });

    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`${name} must be`);
    expect(exit.stderr).toContain(`(got "${value}")`);
    expect(exit.ms).toBeLessThan(15_000);
  });

  it('stops before starting the embedded S3 server', async () => {
    const data = join(dir, 'never-created');

    const exit = await runServer({
      S3_DATA_DIR: data,
      S3_PORT: String(await freePort()),
      MAX_BODY_BYTES: '-1',
    });

    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('MAX_BODY_BYTES must be a positive integer (got "-1")');
    expect(await exists(data)).toBe(false);
  });

  describe('whose port is taken', () => {
    let taken: Server;
    let port: number;

    beforeAll(async () => {
      port = await freePort();
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      await new Promise((resolve) => taken.close(resolve));
    });

    it('exits non-zero instead of staying up with nothing listening', async () => {
      const exit = await runServer({ EMBEDDED_S3: 'off', PORT: String(port), TASKS: 'text/classify' });

      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      expect(exit.stderr).toContain('EADDRINUSE');
    });

    it('exits non-zero when the embedded S3 server cannot start on it', async () => {
      const exit = await runServer({
        S3_PORT: String(port),
        S3_DATA_DIR: join(dir, 's3'),
        PORT: String(await freePort()),
        TASKS: 'text/classify',
      });

      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      expect(exit.stderr).toContain('s3rver exited');
    });
  });
});

describe('a Lambda handler with a bad setting', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('fails the upload handler at init rather than acknowledging messages with no workers', async () => {
    vi.stubEnv('UPLOAD_CONCURRENCY', 'abc');

    await expect(import('../../functions/text/upload-handler.ts')).rejects.toThrow(
      'UPLOAD_CONCURRENCY must be a positive integer (got "abc")',
    );
  });

  it('fails the HTTP handler at init, naming the variable', async () => {
    vi.stubEnv('MAX_BODY_BYTES', '-1');

    await expect(import('../../functions/speech/handler.ts')).rejects.toThrow(
      'MAX_BODY_BYTES must be a positive integer (got "-1")',
    );
  });
});
