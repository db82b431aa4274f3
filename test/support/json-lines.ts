/**
 * What the code under test writes as JSON lines to stdout (EMF records) or stderr (the JSON log) while
 * `act` runs, parsed, with environment settings stubbed for the time of the call.
 */
import { vi } from 'vitest';

/**
 * Runs `act` with `env` stubbed and `stream`'s writes captured (not printed), and returns the JSON lines
 * written meanwhile, parsed. Settings are restored afterwards, whether `act` throws or not.
 *
 * @example
 * ```ts
 * const logs = await jsonLinesOf('stderr', () => selectProvider(...), { LOG_LEVEL: 'info' });
 * ```
 */
export async function jsonLinesOf<T = Record<string, unknown>>(
  stream: 'stdout' | 'stderr',
  act: () => Promise<unknown>,
  env: Readonly<Record<string, string>> = {},
): Promise<T[]> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const chunks: string[] = [];
  const write = vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await act();
  } finally {
    write.mockRestore();
    vi.unstubAllEnvs();
  }
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T);
}
