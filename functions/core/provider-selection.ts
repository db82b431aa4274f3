/**
 * Which onnxruntime execution provider a model's session runs on. onnxruntime-node 1.30 for linux-x64
 * bundles the CPU and WebGPU providers (WebGPU is Dawn on Vulkan: it loads only where a Vulkan driver
 * does); CUDA loads only where its provider library was installed (Dockerfile.cuda). A session created
 * for a provider that cannot load throws; here that becomes a fallback to the CPU with a warning and a
 * {@link ProviderReport} that says so, never a silent CPU run.
 */
import { existsSync } from 'node:fs';
import { log } from './log.ts';
import { ort } from './onnx.ts';

/** Execution providers Inferlet knows how to ask onnxruntime for. */
export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';

/** A provider, or `auto`: the fastest that loads, timed on the model's served shapes. */
export type ProviderPreference = ExecutionProvider | 'auto';

/** GPU providers in the order `auto` tries them (and the order that wins a tie). */
export const GPU_PROVIDERS: readonly ExecutionProvider[] = ['webgpu', 'cuda'];

/** What session creation knows of the model: a manifest's name and parameters. */
export interface ModelSessionOptions {
  /** The model's name, for per-model providers and the logs. */
  readonly name?: string;
  /**
   * `servedShapes`: the first input's shapes that the model's pipeline sends on GPU providers (its shape
   * buckets), e.g. `[[1, 3, 48, 320], [32, 3, 48, 320]]`: warmed at load, and timed by `auto`.
   */
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** The provider a session runs on and how it was chosen, for `/v2/models/{name}` and the metrics. */
export interface ProviderReport {
  /** What the configuration asked for this model. */
  readonly requested: ProviderPreference;
  /** What the session runs on. */
  readonly provider: ExecutionProvider;
  /** Providers that were tried and could not load, with onnxruntime's reason. */
  readonly unavailable?: Readonly<Partial<Record<ExecutionProvider, string>>>;
  /** `auto`: milliseconds of one run of every served shape, per provider that loaded (after a warm run). */
  readonly timingsMs?: Readonly<Partial<Record<ExecutionProvider, number>>>;
  /** Served shapes run once at load on the chosen GPU provider (0 on the CPU). */
  readonly warmedShapes: number;
}

/** What selection needs from onnxruntime; tests replace `create` to stand in for a GPU this host lacks. */
export interface SelectionDependencies {
  readonly create: (
    path: string,
    options: ort.InferenceSession.SessionOptions,
  ) => Promise<ort.InferenceSession>;
  /** Whether this host has an NVIDIA GPU (its device nodes exist), so a CPU fallback deserves a warning. */
  readonly gpuHost: () => boolean;
}

const DEFAULT_DEPENDENCIES: SelectionDependencies = {
  create: (path, options) => ort.InferenceSession.create(path, options),
  gpuHost: () => existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version'),
};

/**
 * Why a provider failed to load in this process, by provider. A provider that cannot start (no Vulkan
 * adapter, no CUDA library) fails the same way for every model: trying once keeps a repository of ten
 * models from logging ten warnings and paying ten failed starts.
 */
const failedProviders = new Map<ExecutionProvider, string>();

/** Forgets failed providers; for tests that change what is available. */
export function resetProviderFailures(): void {
  failedProviders.clear();
}

/** The served shapes a manifest declares (`parameters.servedShapes`), or none. */
export function servedShapesOf(model: ModelSessionOptions): number[][] {
  const shapes = model.parameters?.servedShapes;
  if (!Array.isArray(shapes)) return [];
  return shapes.filter(
    (dims): dims is number[] =>
      Array.isArray(dims) && dims.length > 0 && dims.every((d) => Number.isInteger(d) && d > 0),
  );
}

type Opened = { session: ort.InferenceSession } | { error: string };

async function open(
  path: string,
  provider: ExecutionProvider,
  optionsOf: (provider: ExecutionProvider) => ort.InferenceSession.SessionOptions,
  deps: SelectionDependencies,
): Promise<Opened> {
  const known = failedProviders.get(provider);
  if (known !== undefined) return { error: known };
  try {
    return { session: await deps.create(path, optionsOf(provider)) };
  } catch (error) {
    const reason = runtimeErrorText(error);
    // The CPU provider is always there: a failure of it is the model's, not the provider's.
    if (provider !== 'cpu') failedProviders.set(provider, reason);
    return { error: reason };
  }
}

/** A source location onnxruntime puts in its messages: `/onnxruntime_src/.../file.cc:563`. */
const SOURCE_PATH = /\S*\/[\w.+-]+\.(?:cc|cpp|cu|h|hpp):\d+/g;
/** A C++ function onnxruntime names after the location: `void onnxruntime::Foo::Init(ptrdiff_t, ...)`. */
const CPP_FUNCTION = /(?:[\w:<>*&]+ )?\b\w+(?:::[\w~]+)+(?:<[^>]*>)?\([^)]*\)(?: const)?/g;
/** Longest part of onnxruntime's message a client gets back. */
const RUNTIME_TEXT_CHARS = 300;

/**
 * onnxruntime's error message with its internals taken out, for a client whose inputs made a run fail: the
 * node and what went wrong (`Invalid input shape: {48,0}`), without the source paths and C++ functions that
 * its messages carry (`/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void
 * onnxruntime::BroadcastIterator::Init(...)`), cut to a few hundred characters. The whole message belongs
 * in the log.
 */
export function runtimeErrorText(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const text = raw.replace(SOURCE_PATH, '').replace(CPP_FUNCTION, '').replace(/\s+/g, ' ').trim();
  return text.length > RUNTIME_TEXT_CHARS ? `${text.slice(0, RUNTIME_TEXT_CHARS)}…` : text;
}

function feedsOf(
  session: ort.InferenceSession,
  dims: readonly number[],
): Record<string, ort.Tensor> | undefined {
  if (session.inputNames.length !== 1) return undefined;
  const size = dims.reduce((a, b) => a * b, 1);
  // Mid-grey after normalisation: values a real input has, so no kernel takes an unusual path.
  return {
    [session.inputNames[0] as string]: new ort.Tensor('float32', new Float32Array(size).fill(0.1), [...dims]),
  };
}

/** Runs every shape once (shader compilation on a GPU); with `timed`, runs each again and sums those. */
async function runShapes(
  session: ort.InferenceSession,
  shapes: readonly (readonly number[])[],
  timed: boolean,
): Promise<number> {
  let total = 0;
  for (const dims of shapes) {
    const feeds = feedsOf(session, dims);
    if (!feeds) return Number.NaN;
    await session.run(feeds);
    if (!timed) continue;
    const started = performance.now();
    await session.run(feedsOf(session, dims) as Record<string, ort.Tensor>);
    total += performance.now() - started;
  }
  return total;
}

/**
 * Opens `path` on the provider `preference` asks for, falling back to the CPU where a GPU provider cannot
 * load, and warms the served shapes on a GPU provider. `auto` opens every GPU provider that loads and the
 * CPU, times one run of each served shape on each (after a warm run, which compiles the shaders), keeps
 * the fastest and releases the others; a model without served shapes stays on the CPU under `auto`.
 * On a host without a GPU provider `auto` is the CPU, logged at info; on a host with an NVIDIA GPU where
 * none loads, with a warning.
 */
export async function selectProvider(
  path: string,
  preference: ProviderPreference,
  optionsOf: (provider: ExecutionProvider) => ort.InferenceSession.SessionOptions,
  model: ModelSessionOptions = {},
  deps: SelectionDependencies = DEFAULT_DEPENDENCIES,
): Promise<{ session: ort.InferenceSession; report: ProviderReport }> {
  const shapes = servedShapesOf(model);
  const name = model.name ?? path;
  const unavailable: Partial<Record<ExecutionProvider, string>> = {};
  const cpu = async (): Promise<ort.InferenceSession> => {
    const opened = await open(path, 'cpu', optionsOf, deps);
    if ('error' in opened) throw new Error(opened.error);
    return opened.session;
  };
  const withUnavailable = () =>
    Object.keys(unavailable).length > 0 ? { unavailable: { ...unavailable } } : {};

  if (preference === 'cpu') {
    return { session: await cpu(), report: { requested: 'cpu', provider: 'cpu', warmedShapes: 0 } };
  }
  if (preference === 'auto' && shapes.length === 0) {
    // Nothing to time it on, and nothing known to run well on a GPU: small stateful models (voice
    // activity) and tokenised text pay a GPU's fixed cost per run. Such a model asks for a GPU explicitly.
    return { session: await cpu(), report: { requested: 'auto', provider: 'cpu', warmedShapes: 0 } };
  }

  const candidates = preference === 'auto' ? GPU_PROVIDERS : [preference];
  const loaded: [ExecutionProvider, ort.InferenceSession][] = [];
  for (const provider of candidates) {
    const opened = await open(path, provider, optionsOf, deps);
    if ('session' in opened) loaded.push([provider, opened.session]);
    else unavailable[provider] = opened.error;
  }

  if (loaded.length === 0) {
    const tried = candidates.join(' and ');
    const fields = { model: name, requested: preference, unavailable };
    if (preference !== 'auto' || deps.gpuHost()) {
      log.warn(`execution provider ${tried} unavailable for ${name}; running on the CPU`, fields);
    } else {
      log.info(`no GPU execution provider on this host; ${name} runs on the CPU`, fields);
    }
    const report: ProviderReport = {
      requested: preference,
      provider: 'cpu',
      ...withUnavailable(),
      warmedShapes: 0,
    };
    return { session: await cpu(), report };
  }

  if (preference !== 'auto') {
    const [provider, session] = loaded[0] as [ExecutionProvider, ort.InferenceSession];
    await Promise.all(loaded.slice(1).map(([, other]) => other.release()));
    await runShapes(session, shapes, false);
    const report: ProviderReport = {
      requested: preference,
      provider,
      ...withUnavailable(),
      warmedShapes: shapes.length,
    };
    return { session, report };
  }

  loaded.push(['cpu', await cpu()]);
  const timingsMs: Partial<Record<ExecutionProvider, number>> = {};
  let best: [ExecutionProvider, ort.InferenceSession] | undefined;
  for (const [provider, session] of loaded) {
    try {
      const ms = await runShapes(session, shapes, true);
      timingsMs[provider] = Math.round(ms * 10) / 10;
      if (best === undefined || ms < (timingsMs[best[0]] as number)) best = [provider, session];
    } catch (error) {
      unavailable[provider] = runtimeErrorText(error);
    }
  }
  if (!best) throw new Error(`no execution provider could run ${name} on its served shapes`);
  const chosen = best;
  await Promise.all(loaded.filter(([p]) => p !== chosen[0]).map(([, s]) => s.release()));
  const report: ProviderReport = {
    requested: 'auto',
    provider: chosen[0],
    ...withUnavailable(),
    timingsMs,
    warmedShapes: chosen[0] === 'cpu' ? 0 : shapes.length,
  };
  log.info(`execution provider ${chosen[0]} chosen for ${name}`, { model: name, timingsMs });
  return { session: chosen[1], report };
}
