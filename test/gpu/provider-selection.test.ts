import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../functions/core/config/env.ts';
import {
  type ExecutionProvider,
  resetProviderFailures,
  type SelectionDependencies,
  selectProvider,
} from '../../functions/core/provider-selection.ts';
import {
  createSession,
  preferenceFor,
  providerOf,
  sessionConfigFromEnv,
  sessionOptions,
} from '../../functions/core/session.ts';
import { DataType, encodeModel, node } from '../../scripts/quantize/onnx-graph.ts';
import { jsonLinesOf } from '../support/json-lines.ts';

const optionsOf = (provider: ExecutionProvider) => sessionOptions({ intraOpThreads: 1 }, provider);
const served = {
  name: 'tiny',
  parameters: {
    servedShapes: [
      [1, 64],
      [4, 64],
    ],
  },
};

/** A model of one `Relu` over `[N, 64]`: real, and cheap enough that a delay decides which is faster. */
function tinyModel(): Uint8Array {
  const floats = (name: string) => ({
    name,
    type: {
      tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'n' }, { dimValue: 64 }] } },
    },
  });
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'tiny', node: [node('Relu', ['x'], ['y'])], input: [floats('x')], output: [floats('y')] },
  });
}

/** The JSON log lines written while `act` runs, at LOG_LEVEL=info. */
const logsOf = (act: () => Promise<unknown>) =>
  jsonLinesOf<{ level: string; message: string }>('stderr', act, { LOG_LEVEL: 'info' });

/** Whether onnxruntime's WebGPU provider starts on this host (it needs a Vulkan driver). */
async function webgpuLoads(path: string): Promise<boolean> {
  try {
    await (await ort.InferenceSession.create(path, { executionProviders: ['webgpu'] })).release();
    return true;
  } catch {
    return false;
  }
}

/**
 * Stands in for GPU providers this host lacks: a provider named in `slowerBy` opens a real CPU session
 * whose runs take that many more milliseconds; the others are onnxruntime's own.
 */
function standIns(
  slowerBy: Partial<Record<ExecutionProvider, number>>,
  calls: string[] = [],
): SelectionDependencies {
  return {
    gpuHost: () => false,
    async create(path, options) {
      const provider = options.executionProviders?.[0] as ExecutionProvider;
      calls.push(provider);
      const delay = slowerBy[provider];
      if (delay === undefined) return ort.InferenceSession.create(path, options);
      const session = await ort.InferenceSession.create(path, optionsOf('cpu'));
      return new Proxy(session, {
        get(target, key) {
          if (key !== 'run') return Reflect.get(target, key);
          return async (feeds: Record<string, ort.Tensor>) => {
            await new Promise((resolve) => setTimeout(resolve, delay));
            return target.run(feeds);
          };
        },
      });
    },
  };
}

describe('execution provider selection', () => {
  let dir: string;
  let path: string;
  let webgpu: boolean;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-providers-'));
    path = join(dir, 'tiny.onnx');
    await writeFile(path, tinyModel());
    webgpu = await webgpuLoads(path);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => resetProviderFailures());

  it('runs on the CPU and says why when an explicitly asked GPU provider cannot load', async () => {
    const { session, report } = await selectProvider(path, 'cuda', optionsOf, served);
    const out = await session.run({
      x: new ort.Tensor('float32', Float32Array.of(...Array(64).fill(-1)), [1, 64]),
    });

    // onnxruntime-node 1.30 does not bundle its CUDA provider: it cannot load anywhere without an install.
    expect(report).toMatchObject({ requested: 'cuda', provider: 'cpu', warmedShapes: 0 });
    expect(report.unavailable?.cuda).toMatch(/\w/);
    expect(Array.from(out.y?.data as Float32Array)).toEqual(Array(64).fill(0));
  });

  it('reports webgpu where it loads, else the CPU with its reason, for an explicit webgpu', async () => {
    const { report } = await selectProvider(path, 'webgpu', optionsOf, served);

    expect(report.requested).toBe('webgpu');
    expect(report.provider).toBe(webgpu ? 'webgpu' : 'cpu');
    expect(report.warmedShapes).toBe(webgpu ? 2 : 0);
    if (!webgpu) expect(report.unavailable?.webgpu).toMatch(/adapter|vulkan|webgpu/i);
  });

  it('tries a provider that failed once no more in this process', async () => {
    const calls: string[] = [];
    const deps = standIns({}, calls);

    const first = await selectProvider(path, 'cuda', optionsOf, served, deps);
    const second = await selectProvider(path, 'cuda', optionsOf, served, deps);

    expect(calls).toEqual(['cuda', 'cpu', 'cpu']);
    expect(second.report.unavailable?.cuda).toBe(first.report.unavailable?.cuda);
  });

  it('keeps the faster provider under auto, timed on the served shapes', async () => {
    const gpuFaster = await selectProvider(path, 'auto', optionsOf, served, standIns({ cpu: 60, webgpu: 0 }));
    resetProviderFailures();
    const cpuFaster = await selectProvider(path, 'auto', optionsOf, served, standIns({ cpu: 0, webgpu: 60 }));

    expect(gpuFaster.report).toMatchObject({ requested: 'auto', provider: 'webgpu', warmedShapes: 2 });
    expect(cpuFaster.report).toMatchObject({ requested: 'auto', provider: 'cpu', warmedShapes: 0 });
    expect(cpuFaster.report.timingsMs?.webgpu).toBeGreaterThan(cpuFaster.report.timingsMs?.cpu as number);
    // cuda is not bundled: auto tried it, and says so, but did not fail for it.
    expect(gpuFaster.report.unavailable?.cuda).toMatch(/\w/);
  });

  it('falls back to the CPU under auto where no GPU provider loads, with the reasons', async () => {
    const { report } = await selectProvider(path, 'auto', optionsOf, served, standIns({}));

    expect(report.provider).toBe(webgpu ? 'webgpu' : 'cpu');
    if (!webgpu) expect(Object.keys(report.unavailable ?? {}).sort()).toEqual(['cuda', 'webgpu']);
  });

  it('warns when a GPU provider asked for, or any on an NVIDIA host, falls back to the CPU', async () => {
    // A host where every GPU provider fails as WebGPU does without Vulkan.
    const cpuOnly: SelectionDependencies = {
      gpuHost: () => false,
      create: (p, options) =>
        options.executionProviders?.[0] === 'cpu'
          ? ort.InferenceSession.create(p, options)
          : Promise.reject(new Error('Failed to get a WebGPU adapter: No supported adapters')),
    };
    const nvidiaHost: SelectionDependencies = { ...cpuOnly, gpuHost: () => true };

    const explicit = await logsOf(() => selectProvider(path, 'webgpu', optionsOf, served, cpuOnly));
    resetProviderFailures();
    const laptop = await logsOf(() => selectProvider(path, 'auto', optionsOf, served, cpuOnly));
    resetProviderFailures();
    const gpuBox = await logsOf(() => selectProvider(path, 'auto', optionsOf, served, nvidiaHost));

    expect(explicit.map((l) => l.level)).toEqual(['WARN']);
    expect(explicit[0]?.message).toMatch(/webgpu unavailable for tiny; running on the CPU/);
    expect(laptop.map((l) => l.level)).toEqual(['INFO']);
    expect(gpuBox.map((l) => l.level)).toEqual(['WARN']);
  });

  it('keeps a model without served shapes on the CPU under auto, trying no GPU provider', async () => {
    const calls: string[] = [];

    const { report } = await selectProvider(path, 'auto', optionsOf, { name: 'vad' }, standIns({}, calls));

    expect(calls).toEqual(['cpu']);
    expect(report).toEqual({ requested: 'auto', provider: 'cpu', warmedShapes: 0 });
  });

  it('records the report on the session createSession makes, per model over the global choice', async () => {
    const config = sessionConfigFromEnv({
      EXECUTION_PROVIDER: 'cuda',
      EXECUTION_PROVIDERS_BY_MODEL: 'tiny=cpu',
    });

    const mine = await createSession(path, config, served);
    const other = await createSession(path, config, { name: 'other' });

    expect(providerOf(mine)).toMatchObject({ requested: 'cpu', provider: 'cpu' });
    expect(providerOf(other)).toMatchObject({ requested: 'cuda', provider: 'cpu' });
    expect(preferenceFor(config, 'tiny')).toBe('cpu');
    expect(providerOf({})).toBeUndefined();
  });

  it('reads per-model providers from the environment and refuses a malformed pair', () => {
    const settings = loadSettings({
      EXECUTION_PROVIDER: 'auto',
      EXECUTION_PROVIDERS_BY_MODEL: 'a=WebGPU, b=cpu',
    });

    expect(settings.EXECUTION_PROVIDERS_BY_MODEL).toEqual({ a: 'webgpu', b: 'cpu' });
    expect(() => loadSettings({ EXECUTION_PROVIDERS_BY_MODEL: 'a=tpu' })).toThrow(
      /EXECUTION_PROVIDERS_BY_MODEL/,
    );
    expect(() => loadSettings({ EXECUTION_PROVIDER: 'auto', MODEL_TIER: 'lambda' })).toThrow(
      /Lambda has no GPU/,
    );
  });
});
