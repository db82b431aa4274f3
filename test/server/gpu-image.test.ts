import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServerFolder, SERVER_ENTRY } from '../../scripts/gpu-image/build-context.ts';
import { freePort } from '../support/free-port.ts';
import { readJson } from '../support/http-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';

const models = resolve('models');

/**
 * The GPU image's build steps without Docker: scripts/gpu-image/build-context.ts builds the application
 * folder the Dockerfile copies, and the server starts from that folder alone (its node_modules hold only
 * the native packages; everything else is in the bundle) and answers each task.
 */
describe('the GPU image build script', () => {
  let folder: string;
  let bytes: number;
  let child: ChildProcess;
  let base: string;
  let stderr = '';

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'inferlet-gpu-image-'));
    bytes = await buildServerFolder(join(folder, 'app'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SERVER_ENTRY], {
      cwd: join(folder, 'app'),
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        EMBEDDED_S3: 'off',
        MODEL_REPOSITORY: models,
        MODEL_CACHE_DIR: join(folder, 'cache'),
        MODEL_TIER: 'gpu',
        EXECUTION_PROVIDER: 'auto',
        POWERTOOLS_METRICS_DISABLED: 'true',
        LOG_LEVEL: 'warn',
        // No NODE_PATH and the folder outside the checkout: nothing resolves from the project's packages.
        NODE_PATH: '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    for (let i = 0; i < 300; i++) {
      const ready = await fetch(`${base}/v2/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return;
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`server not ready: ${stderr}`);
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(folder, { recursive: true, force: true });
  });

  it('holds the bundle and only the native packages, onnxruntime trimmed to linux-x64', async () => {
    const ort = join(folder, 'app', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');

    const pkg = JSON.parse(
      await readFile(join(folder, 'app', 'node_modules', 'sharp', 'package.json'), 'utf8'),
    );

    expect((await stat(join(folder, 'app', SERVER_ENTRY))).isFile()).toBe(true);
    expect((await stat(join(ort, 'linux', 'x64', 'libonnxruntime.so.1'))).isFile()).toBe(true);
    await expect(stat(join(ort, 'win32'))).rejects.toThrow();
    await expect(stat(join(folder, 'app', 'node_modules', 'zod'))).rejects.toThrow();
    expect(pkg.name).toBe('sharp');
    expect(bytes).toBeLessThan(120 * 2 ** 20);
  });

  it('reads text from an image on the GPU tier variants', async () => {
    const png = await renderText({
      width: 420,
      height: 120,
      lines: stackLines([
        { text: 'total 31.03', fontSize: 28 },
        { text: 'paid by card', fontSize: 28 },
      ]),
    });

    const response = await fetch(`${base}/v1/image/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    const body = await readJson(response);

    expect(response.status).toBe(200);
    expect(body.text).toBe('total 31.03\npaid by card');
  });

  it('classifies a text', async () => {
    const response = await fetch(`${base}/v1/text/classify`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'WIN a FREE cruise!!! Click now to claim your cash prize',
    });
    const body = await readJson(response);

    expect(response.status).toBe(200);
    expect(body.results[0].label).toBe('spam');
  });

  it('finds speech in a recording', async () => {
    const wav = await readFile(
      join('test', 'fixtures', 'speech', 'sentences', 'call-me-back-after-lunch.wav'),
    );

    const response = await fetch(`${base}/v1/speech/vad`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    const body = await readJson(response);

    expect(response.status).toBe(200);
    expect(body.segments.length).toBeGreaterThan(0);
  });

  it('reports the execution provider of the detector, and why a GPU provider could not load', async () => {
    const metadata = await readJson(await fetch(`${base}/v2/models/ppocr-v4-det`));

    // This host has no Vulkan driver; the same request on a GPU host names webgpu.
    expect(metadata.execution_provider.requested).toBe('auto');
    expect(['cpu', 'webgpu']).toContain(metadata.execution_provider.provider);
    if (metadata.execution_provider.provider === 'cpu') {
      expect(Object.keys(metadata.execution_provider.unavailable)).toContain('webgpu');
    }
  });
});
