/** Labelled text files (JSONL or CSV) for training and evaluating text classifiers. */
import { readFile } from 'node:fs/promises';
import { fnv1a32 } from '../../functions/text/featurizer.ts';

/** One labelled example. */
export interface LabelledText {
  readonly text: string;
  readonly label: string;
}

/**
 * Parses CSV (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) into rows of fields.
 */
export function parseCsv(source: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

/**
 * Reads labelled texts from a `.jsonl` file (one `{"text": ..., "label": ...}` per line) or a `.csv` file
 * with a header row naming `text` and `label` columns. Throws naming the line of a bad record.
 */
export async function readLabelledFile(path: string): Promise<LabelledText[]> {
  const source = await readFile(path, 'utf8');
  if (path.toLowerCase().endsWith('.csv')) {
    const [header, ...rows] = parseCsv(source);
    const columns = (header ?? []).map((h) => h.trim().toLowerCase());
    const textAt = columns.indexOf('text');
    const labelAt = columns.indexOf('label');
    if (textAt < 0 || labelAt < 0)
      throw new Error(`${path}: the header must name "text" and "label" columns`);
    return rows.map((row, i) => {
      const text = row[textAt];
      const label = row[labelAt]?.trim();
      if (text === undefined || !label) throw new Error(`${path}: row ${i + 2} lacks a text or a label`);
      return { text, label };
    });
  }
  const examples: LabelledText[] = [];
  for (const [i, line] of source.split('\n').entries()) {
    if (!line.trim()) continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new Error(`${path}: line ${i + 1} is not JSON`, { cause: error });
    }
    const { text, label } = (record ?? {}) as { text?: unknown; label?: unknown };
    if (typeof text !== 'string' || (typeof label !== 'string' && typeof label !== 'number')) {
      throw new Error(`${path}: line ${i + 1} needs a string "text" and a "label"`);
    }
    examples.push({ text, label: String(label).trim() });
  }
  return examples;
}

/**
 * Holds out about `fraction` of the examples for validation, chosen by the hash of the text (so the same
 * file always splits the same way, and duplicates stay together).
 */
export function holdOut<T extends LabelledText>(
  examples: readonly T[],
  fraction: number,
): { train: T[]; validation: T[] } {
  const train: T[] = [];
  const validation: T[] = [];
  const cut = Math.round(fraction * 1000);
  for (const example of examples) (fnv1a32(example.text) % 1000 < cut ? validation : train).push(example);
  return { train, validation };
}

/** The distinct labels of some examples, sorted (the order of the model's outputs). */
export function labelsOf(examples: readonly LabelledText[]): string[] {
  return [...new Set(examples.map((e) => e.label))].sort();
}
