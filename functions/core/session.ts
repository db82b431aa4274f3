import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { loadSettings } from './config/env.ts';

/** Execution providers Inferlet knows how to ask onnxruntime for. */
export type ExecutionProvider = 'cpu' | 'cuda';

/** How inference sessions are created, from the environment unless given. */
export interface SessionConfig {
  /** Threads inside one operator. Default: `INFERENCE_THREADS`, else the CPUs this process may use. */
  readonly intraOpThreads: number;
  /** `cuda` uses the CUDA provider and falls back to CPU, with a warning, where it is missing. */
  readonly executionProvider: ExecutionProvider;
}

/** Reads the session configuration from the environment (`INFERENCE_THREADS`, `EXECUTION_PROVIDER`). */
export function sessionConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SessionConfig {
  const settings = loadSettings(env);
  return {
    // onnxruntime sizes its pool from the host's cores, not from the share a Lambda or container gets.
    intraOpThreads: settings.INFERENCE_THREADS ?? availableParallelism(),
    executionProvider: settings.EXECUTION_PROVIDER,
  };
}

function sessionOptions(
  config: SessionConfig,
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
    logSeverityLevel: 3,
    // Idle pool threads otherwise busy-wait between runs; on a 2-core Lambda or a shared host that spinning
    // steals the CPU the next operator (or the event loop) needs: measured 97 -> 70 ms for det+cls+rec.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

let cudaUnavailable = false;

/**
 * Creates an inference session for a verified local model file.
 *
 * onnxruntime-node throws, rather than falls back, when the CUDA provider cannot be loaded; this catches
 * that once, logs a warning and uses the CPU from then on, so the same image runs on a laptop.
 */
export async function createSession(
  modelPath: string,
  config: SessionConfig = sessionConfigFromEnv(),
): Promise<ort.InferenceSession> {
  if (config.executionProvider === 'cuda' && !cudaUnavailable) {
    try {
      return await ort.InferenceSession.create(modelPath, sessionOptions(config, 'cuda'));
    } catch (error) {
      cudaUnavailable = true;
      console.warn(
        JSON.stringify({
          level: 'WARN',
          message: 'CUDA execution provider unavailable; falling back to CPU',
          reason: error instanceof Error ? error.message : String(error),
        }),
      );
    }
  }
  return ort.InferenceSession.create(modelPath, sessionOptions(config, 'cpu'));
}

/** The provider sessions are actually created with (after any fallback). */
export function effectiveProvider(config: SessionConfig): ExecutionProvider {
  return config.executionProvider === 'cuda' && !cudaUnavailable ? 'cuda' : 'cpu';
}
