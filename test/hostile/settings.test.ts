/**
 * Issue 10, finding 7: settings that used to leave `npm start` half up or read wrongly now stop it at start,
 * with status 1 and the variable named: an upload outage must not hide behind a ready HTTP server.
 * (The schema itself is tested in test/core/config/env.test.ts; this runs the real entry point.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.ts';

/** Runs `npm start`'s entry with `env` until it exits; kills it (and fails) after `limitMs`. */
function runServer(env: Record<string, string>, limitMs = 20_000) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/server/main.ts'], {
    env: { ...process.env, NODE_NO_WARNINGS: '1', LOG_LEVEL: 'error', TASKS: 'text/classify', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm start was still running after ${limitMs} ms:\n${stderr}`));
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('npm start with a setting the hostile run found misread', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-hostile-settings-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['MAX_UPLOAD_BYTES', 'abc', 'a positive integer'],
    ['S3_PORT', 'abc', 'an integer from 1 to 65535'],
    ['OCR_MAX_PIXELS', '1e3', 'a positive integer'],
  ])('exits with status 1 at %s=%s before the embedded S3 starts', async (name, value, allowed) => {
    const data = join(dir, `${name}-data`);

    const exit = await runServer({
      PORT: String(await freePort()),
      S3_PORT: String(await freePort()),
      S3_DATA_DIR: data,
      [name]: value,
    });

    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`${name} must be ${allowed} (got "${value}")`);
    expect(await exists(data)).toBe(false);
  });
});
