import { availableParallelism } from 'node:os';
import { loadSettings } from './config/env.ts';
import type { ort } from './onnx.ts';
import {
  type ExecutionProvider,
  type ModelSessionOptions,
  type ProviderPreference,
  type ProviderReport,
  selectProvider,
} from './provider-selection.ts';

export type {
  ExecutionProvider,
  ModelSessionOptions,
  ProviderPreference,
  ProviderReport,
} from './provider-selection.ts';
export { runtimeErrorText } from './provider-selection.ts';

/** onnxruntime's severity for `fatal`, for session options (0 verbose ... 4 fatal). */
const ORT_FATAL = 4;

/** How inference sessions are created, from the environment unless given. */
export interface SessionConfig {
  /** Threads inside one operator. Default: `INFERENCE_THREADS`, else the CPUs this process may use. */
  readonly intraOpThreads: number;
  /**
   * The provider of every model without an entry in `providersByModel`: `cpu`, `webgpu` or `cuda` (a GPU
   * provider that cannot load falls back to the CPU with a warning), or `auto` (time each provider that
   * loads on the model's served shapes, keep the fastest; the CPU where no GPU provider loads).
   */
  readonly executionProvider: ProviderPreference;
  /** Providers by model name, over `executionProvider` (`EXECUTION_PROVIDERS_BY_MODEL`). */
  readonly providersByModel?: Readonly<Record<string, ProviderPreference>>;
}

/**
 * Reads the session configuration from the environment (`INFERENCE_THREADS`, `EXECUTION_PROVIDER`,
 * `EXECUTION_PROVIDERS_BY_MODEL`).
 */
export function sessionConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SessionConfig {
  const settings = loadSettings(env);
  return {
    // onnxruntime sizes its pool from the host's cores, not from the share a Lambda or container gets.
    intraOpThreads: settings.INFERENCE_THREADS ?? availableParallelism(),
    executionProvider: settings.EXECUTION_PROVIDER,
    ...(settings.EXECUTION_PROVIDERS_BY_MODEL && {
      providersByModel: settings.EXECUTION_PROVIDERS_BY_MODEL as Record<string, ProviderPreference>,
    }),
  };
}

/** The provider asked for `model`: its own entry, else the configuration's. */
export function preferenceFor(config: SessionConfig, model?: string): ProviderPreference {
  return (model !== undefined ? config.providersByModel?.[model] : undefined) ?? config.executionProvider;
}

/** The session options of one provider: the same threads and optimisation on each. */
export function sessionOptions(
  config: Pick<SessionConfig, 'intraOpThreads'>,
  provider: ExecutionProvider,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // The pipelines call one model at a time; parallel branches inside these graphs are rare.
    executionMode: 'sequential',
    intraOpNumThreads: config.intraOpThreads,
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: ORT_FATAL,
    // Idle pool threads otherwise busy-wait between runs; on a 2-core Lambda or a shared host that spinning
    // steals the CPU the next operator (or the event loop) needs: measured 97 -> 70 ms for det+cls+rec.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** Which provider each session runs on, and why; read with {@link providerOf}. */
const reports = new WeakMap<ort.InferenceSession, ProviderReport>();

/**
 * Creates an inference session for a verified local model file, on the provider configured for the
 * model (`model.name`): see {@link SessionConfig.executionProvider}. On a GPU provider every served shape
 * (`model.parameters.servedShapes`) is run once before this resolves, so that no request pays its shader
 * compilation (0.4–4 s a shape on WebGPU) and readiness comes after it. onnxruntime-node throws, rather
 * than falls back, when a provider cannot load; that is caught here, logged as a warning and reported
 * ({@link providerOf}), and the CPU used.
 *
 * @example
 * ```ts
 * const session = await createSession(path, sessionConfigFromEnv(), manifest);
 * providerOf(session); // { requested: 'auto', provider: 'webgpu', timingsMs: { webgpu: 41, cpu: 230 }, ... }
 * ```
 */
export async function createSession(
  modelPath: string,
  config: SessionConfig = sessionConfigFromEnv(),
  model: ModelSessionOptions = {},
): Promise<ort.InferenceSession> {
  const { session, report } = await selectProvider(
    modelPath,
    preferenceFor(config, model.name),
    (provider) => sessionOptions(config, provider),
    model,
  );
  reports.set(session, report);
  return session;
}

/** The provider a session runs on, asked and chosen; undefined for a session not made by {@link createSession}. */
export function providerOf(session: unknown): ProviderReport | undefined {
  return typeof session === 'object' && session !== null
    ? reports.get(session as ort.InferenceSession)
    : undefined;
}
