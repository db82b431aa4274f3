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

/** The parts of an error that are safe to log: name, message and stack, never a payload. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error)
    return { errorName: error.name, errorMessage: error.message, stack: error.stack };
  return { errorMessage: String(error) };
}
