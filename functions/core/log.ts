/**
 * Structured JSON logs on stderr (stdout carries EMF metrics). Never pass a request payload here:
 * log sizes, types and ids, not content.
 */
import { readSetting } from './config/env.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, 'silent'>;

let lastLevel: { raw: string | undefined; threshold: number } | undefined;

function threshold(): number {
  const raw = process.env.LOG_LEVEL;
  if (lastLevel !== undefined && lastLevel.raw === raw) return lastLevel.threshold;
  let level: keyof typeof LEVELS;
  try {
    level = readSetting('LOG_LEVEL');
  } catch {
    // A logger must not throw; the entry point's loadSettings() has refused the value already.
    level = 'info';
  }
  lastLevel = { raw, threshold: LEVELS[level] };
  return lastLevel.threshold;
}

function write(level: Level, message: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold()) return;
  const line = JSON.stringify({
    level: level.toUpperCase(),
    time: new Date().toISOString(),
    message,
    ...fields,
  });
  process.stderr.write(`${line}\n`);
}

/** The process logger. */
export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => write('debug', message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write('info', message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write('warn', message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write('error', message, fields),
};

/**
 * The parts of an error that are safe to log, never a payload: name, message and stack, the internals an
 * `InferletError` keeps from its client (`detail`), and the name and message of each cause below it (where
 * an SDK's or onnxruntime's own text, or a path, is kept).
 */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { errorMessage: String(error) };
  const fields: Record<string, unknown> = {
    errorName: error.name,
    errorMessage: error.message,
    stack: error.stack,
  };
  const detail = (error as { detail?: unknown }).detail;
  if (typeof detail === 'string') fields.errorDetail = detail;
  const causes = causesOf(error);
  if (causes.length > 0) fields.causes = causes;
  return fields;
}

/** The chain of causes below an error, a few deep (a cycle or a long chain stops there). */
function causesOf(error: Error): { name?: string; message: string }[] {
  const causes: { name?: string; message: string }[] = [];
  let cause: unknown = error.cause;
  while (cause !== undefined && causes.length < 4) {
    causes.push(
      cause instanceof Error ? { name: cause.name, message: cause.message } : { message: String(cause) },
    );
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return causes;
}

/**
 * Node prints process warnings (a deprecation, the AWS SDK's `NodeVersionSupportWarning` on Node 20) as
 * several text lines on stderr. Its printer (the listener Node names `onWarning`) is replaced by one JSON
 * warn line per warning, so that the logs stay JSON; where Node prints none (`--no-warnings`), none is
 * logged either. Done when this module loads: the SDK warns while a client is constructed, and every entry
 * point imports the logger before it makes one.
 */
function logProcessWarnings(): void {
  const printers = process.listeners('warning').filter((listener) => listener.name === 'onWarning');
  if (printers.length === 0) return;
  for (const printer of printers) process.removeListener('warning', printer);
  process.on('warning', (warning) =>
    write('warn', 'process warning', { warningName: warning.name, text: warning.message.slice(0, 500) }),
  );
}
logProcessWarnings();

/** What a library prints through `console`, by the prefix of its lines, and the source it is logged as. */
const libraryPrefixes = new Map<string, string>();
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;

/**
 * Turns the lines a library prints through `console` (those that begin with one of `prefixes`) into
 * debug-level JSON log lines of `source`, so that the logs stay JSON; anything else is printed as before.
 *
 * The filter is installed once for the process and recognises lines by their prefix, not by a console
 * swapped around a call: the WebAssembly audio decoders print from inside promise chains, where a swap
 * would catch the lines of concurrent requests, or miss its own.
 *
 * @example
 * ```ts
 * captureConsoleOf('mpg123-decoder', ['mpg123-decoder: ']); // "mpg123-decoder: -1 MPG123_ERR" -> debug
 * ```
 */
export function captureConsoleOf(source: string, prefixes: readonly string[]): void {
  const installed = libraryPrefixes.size > 0;
  for (const prefix of prefixes) libraryPrefixes.set(prefix, source);
  if (installed) return;
  for (const method of CONSOLE_METHODS) {
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      const [first] = args;
      if (typeof first === 'string') {
        for (const [prefix, from] of libraryPrefixes) {
          if (first.startsWith(prefix)) {
            // A decoder's status text, not a payload; cut anyway, as a library may print anything.
            write('debug', 'library output', { source: from, text: first.slice(0, 200) });
            return;
          }
        }
      }
      original.apply(console, args);
    };
  }
}
