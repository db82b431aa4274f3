/**
 * How the docs' figure blocks write numbers, dates and the rows they pick from the results files: one
 * style for every block (`figures.ts`). Pure.
 */
import type { BenchResults } from './bench-results.ts';

export type Ocr = BenchResults['ocr'];
export type Speech = BenchResults['speech'];

/** A number with a typographic minus, as the docs' prose writes it. */
export const fixed = (value: number, digits: number) => value.toFixed(digits).replace(/^-/, '−');
/** A count with its thousands apart: 10 000. */
export const count = (value: number) => String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
export const ms = (value: number) => `${fixed(value, 1)} ms`;
export const times = (value: number, digits = 2) => `${fixed(value, digits)}×`;
export const range = (values: readonly number[], format: (v: number) => string) => {
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const [a, b] = [format(low), format(high)];
  return a === b ? a : `${a}–${b}`;
};
export const percent = (value: number) => `${fixed(value * 100, 2)} %`;
export const mib = (bytes: number) => `${fixed(bytes / 2 ** 20, 2)} MiB`;

/** "2026-11-27 04:48 UTC" from an ISO date, or a plain note where the file records none. */
export function when(file: { date?: string; machine?: { date?: string } }): string {
  const iso = file.date ?? file.machine?.date;
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : 'date not recorded';
}

export const load = (before: number, after: number) =>
  `load average ${fixed(before, 2)} → ${fixed(after, 2)}`;

/** The speech bench's row whose contender starts with `prefix`. */
export function speechRow(speech: Speech, prefix: string) {
  const row = speech.rows.find((r) => r.contender.startsWith(prefix));
  if (!row) throw new Error(`bench/results/speech.json has no row "${prefix}…"`);
  return row;
}

/** A real-time factor as the speech tables show it: the median, and the spread over rounds where there were several. */
export function rtf(row: Speech['rows'][number]): string {
  const median = `${row['RTF median']}×`;
  return row['RTF min'] === row['RTF max'] ? median : `${median} (${row['RTF min']}–${row['RTF max']}×)`;
}

export const smallRows = (ocr: Ocr) => ocr.rows.filter((r) => r.small);
