import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { loadSettings } from './config/env.ts';
import { describeError, log } from './log.ts';

// onnxruntime's own logger writes coloured text lines to stderr, outside the JSON logs, even at `error`
// (a failed run prints its message, /onnxruntime_src paths included, before throwing it). Every error it
// has is thrown to the caller, who logs it as JSON: its logger keeps only `fatal`. The environment level
// is read when the first session is created, so it is set when this module loads.
ort.env.logLevel = 'fatal';
/** onnxruntime's severity for `fatal`, for session options (0 verbose ... 4 fatal). */
const ORT_FATAL = 4;

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
    logSeverityLevel: ORT_FATAL,
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
      log.warn('CUDA execution provider unavailable; falling back to CPU', describeError(error));
    }
  }
  return ort.InferenceSession.create(modelPath, sessionOptions(config, 'cpu'));
}

/** The provider sessions are actually created with (after any fallback). */
export function effectiveProvider(config: SessionConfig): ExecutionProvider {
  return config.executionProvider === 'cuda' && !cudaUnavailable ? 'cuda' : 'cpu';
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
