import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGpuBundle } from '../../scripts/gpu-bundle/build.ts';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';
import { freePort } from '../support/free-port.ts';

const run = promisify(execFile);

/**
 * The GPU check's CPU path, end to end: `npm run gpu:bundle`'s folder (fast xz preset, no Debian packages)
 * unpacked by its run.sh, which writes the fp32 and gpu graphs from the package's and measures `cpu` against `auto` on the bundled
 * Node. On this host `auto` finds no GPU provider; on a GPU machine the same script measures WebGPU.
 */
describe('the GPU check bundle', () => {
  const work = mkdtemp(join(tmpdir(), 'inferlet-gpu-bundle-test-'));
  afterAll(async () => rm(await work, { recursive: true, force: true }));

  it('unpacks and runs the OCR throughput check on its own Node, printing providers and the table', async () => {
    const dir = await work;
    await buildGpuBundle(join(dir, 'bundle'), {
      level: '0',
      gl: false,
      limitBytes: Number.POSITIVE_INFINITY,
    });
    const port = await freePort();

    const { stdout } = await run(
      'sh',
      [
        join(dir, 'bundle', 'run.sh'),
        '--modes',
        'cpu,auto',
        '--clients',
        '1,2',
        '--rounds',
        '1',
        '--limit',
        '2',
        '--port',
        String(port),
      ],
      {
        env: { PATH: process.env.PATH, GPU_CHECK_NO_GL: '1', GPU_CHECK_WORK: join(dir, 'work') },
        cwd: dir,
        maxBuffer: 16 * 2 ** 20,
        timeout: 240_000,
      },
    ).catch((error) => {
      throw new Error(`run.sh failed: ${error.stderr ?? error}`);
    });
    const result = JSON.parse(stdout);
    const [cpu, auto] = result.modes;

    expect(result.execPath).toBe(join(dir, 'work', 'node'));
    for (const file of ['model.onnx', 'model-gpu.onnx']) {
      expect(existsSync(join(dir, 'work', 'models', 'ppocr-v4-rec', OCR_VERSION, file))).toBe(true);
    }
    expect(result.documents).toHaveLength(2);
    expect(cpu.mode).toBe('cpu');
    expect(cpu.providers['ppocr-v4-rec']).toMatchObject({ requested: 'cpu', provider: 'cpu' });
    expect(auto.mode).toBe('auto');
    expect(auto.providers['ppocr-v4-det']).toMatchObject({ requested: 'auto', provider: 'cpu' });
    expect(Object.keys(auto.providers['ppocr-v4-det'].unavailable)).toContain('webgpu');
    for (const mode of [cpu, auto]) {
      expect(mode.concurrency.map((c: { clients: number }) => c.clients)).toEqual([1, 2]);
      for (const row of mode.concurrency) {
        expect(row.errors).toBe(0);
        expect(row.documentsPerSecond).toBeGreaterThan(0);
        expect(row.accuracy).toBeGreaterThan(0.9);
      }
    }
    expect(result.comparison.auto.map((c: { clients: number }) => c.clients)).toEqual([1, 2]);
  }, 300_000);
});
