/**
 * Marked figure blocks in Markdown: `<!-- figures:NAME -->` … `<!-- /figures -->`. Everything between the
 * two markers belongs to the renderer named NAME and is rewritten whole, so a benchmark's figures appear in
 * the docs only as its results file says. Pure: strings in, strings out.
 */

/** The opening marker of a block; the name is letters, digits and `-`. */
const OPEN = /^<!-- figures:([a-z0-9-]+) -->$/;
/** The closing marker of every block. */
const CLOSE = '<!-- /figures -->';

/** One marked block found in a document. */
export interface FigureBlock {
  /** The renderer's name, as written in the opening marker. */
  readonly name: string;
  /** The text between the markers, without the marker lines. */
  readonly body: string;
  /** 1-based line of the opening marker, for messages. */
  readonly line: number;
}

/**
 * The marked blocks of a document, in order.
 *
 * @throws Error naming the line of a block that is not closed, or of a closing marker without an opening one.
 */
export function findFigureBlocks(markdown: string): FigureBlock[] {
  const lines = markdown.split('\n');
  const blocks: FigureBlock[] = [];
  let open: { name: string; line: number } | undefined;
  let body: string[] = [];
  lines.forEach((text, i) => {
    const opening = OPEN.exec(text.trim());
    if (opening) {
      if (open) throw new Error(`line ${i + 1}: figures:${opening[1]} opens inside figures:${open.name}`);
      open = { name: opening[1] as string, line: i + 1 };
      body = [];
    } else if (text.trim() === CLOSE) {
      if (!open) throw new Error(`line ${i + 1}: ${CLOSE} without an opening <!-- figures:NAME -->`);
      blocks.push({ name: open.name, body: body.join('\n'), line: open.line });
      open = undefined;
    } else if (open) body.push(text);
  });
  if (open) throw new Error(`line ${open.line}: figures:${open.name} is not closed with ${CLOSE}`);
  return blocks;
}

/**
 * The document with every marked block's body replaced by `render(name)`, framed by one blank line on each
 * side (so a table inside is a Markdown table, and the formatter leaves it be).
 *
 * @throws Error from `render` for a name it does not know, or from {@link findFigureBlocks}.
 */
export function renderFigureBlocks(markdown: string, render: (name: string) => string): string {
  findFigureBlocks(markdown); // validates the markers before anything is rewritten
  const out: string[] = [];
  let inside = false;
  for (const text of markdown.split('\n')) {
    const opening = OPEN.exec(text.trim());
    if (opening) {
      out.push(text, '', ...wrapProse(render(opening[1] as string).trimEnd()), '');
      inside = true;
    } else if (text.trim() === CLOSE) {
      out.push(text);
      inside = false;
    } else if (!inside) out.push(text);
  }
  return out.join('\n');
}

/** Widest line of prose a block writes, as the hand-written docs wrap theirs. */
const PROSE_WIDTH = 110;

/** The lines of `text` with each paragraph line wrapped at spaces to {@link PROSE_WIDTH}; tables stay whole. */
function wrapProse(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    if (line.startsWith('|') || width(line) <= PROSE_WIDTH) return [line];
    const wrapped: string[] = [];
    let current = '';
    for (const word of wordsOutsideCode(line)) {
      if (current && width(current) + 1 + width(word) > PROSE_WIDTH) {
        wrapped.push(current);
        current = word;
      } else current = current ? `${current} ${word}` : word;
    }
    return current ? [...wrapped, current] : wrapped;
  });
}

/** The words of a line split at spaces, a code span kept whole so a wrap never breaks inside one. */
function wordsOutsideCode(line: string): string[] {
  const words: string[] = [];
  let inCode = false;
  for (const piece of line.split(' ')) {
    if (inCode) words[words.length - 1] += ` ${piece}`;
    else words.push(piece);
    if ((piece.match(/`/g) ?? []).length % 2 === 1) inCode = !inCode;
  }
  return words;
}

/** Length as a reader (and Biome's table formatter) counts it: code points, not UTF-16 units. */
const width = (text: string) => [...text].length;

/**
 * A Markdown table with every column padded to its widest cell, as Biome formats tables, so a rendered
 * block passes `biome check` unchanged. A `|` inside a cell is escaped. Columns are left-aligned unless
 * `align` says `right` for them (numbers), as Biome pads those: on the left, the rule ending in `:`.
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ('left' | 'right')[] = [],
): string {
  const cells = [header, ...rows].map((row) => header.map((_, i) => (row[i] ?? '').replaceAll('|', '\\|')));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => width(row[i] as string))));
  const pad = (cell: string, i: number) => {
    const gap = ' '.repeat((widths[i] as number) - width(cell));
    return align[i] === 'right' ? gap + cell : cell + gap;
  };
  const line = (row: readonly string[]) => `| ${row.map(pad).join(' | ')} |`;
  const rule = widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)));
  const [head, ...body] = cells as string[][];
  return [line(head as string[]), `| ${rule.join(' | ')} |`, ...body.map(line)].join('\n');
}
