import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BenchResults, readBenchResults } from '../../scripts/docs/bench-results.ts';
import { documentPaths } from '../../scripts/docs/documents.ts';
import { findFigureBlocks, markdownTable, renderFigureBlocks } from '../../scripts/docs/figure-blocks.ts';
import { FIGURES, figureRenderer } from '../../scripts/docs/figures.ts';

const root = resolve('.');

async function documents(): Promise<{ path: string; text: string }[]> {
  return Promise.all(
    (await documentPaths(root)).map(async (path) => ({
      path,
      text: await readFile(join(root, path), 'utf8'),
    })),
  );
}

describe('the docs figures', () => {
  it('match what the results files render, in every marked block of README.md and docs/', async () => {
    const render = figureRenderer(await readBenchResults(root));

    const docs = await documents();

    for (const { path, text } of docs)
      expect(
        renderFigureBlocks(text, render),
        `${path}: figures differ from bench results; run npm run docs:figures`,
      ).toBe(text);
  });

  it('render each results file in at least one block, and the README shows the performance table', async () => {
    const docs = await documents();

    const names = docs.flatMap(({ text }) => findFigureBlocks(text).map((block) => block.name));
    const readme = findFigureBlocks(docs.find((d) => d.path === 'README.md')?.text ?? '').map((b) => b.name);

    expect(new Set(names)).toEqual(new Set(Object.keys(FIGURES)));
    expect(readme).toContain('performance');
  });

  it('change a block when a bench result changes, so a rerun without docs:figures fails the suite', async () => {
    const results = await readBenchResults(root);
    const rerun: BenchResults = {
      ...results,
      speech: {
        ...results.speech,
        rows: results.speech.rows.map((row) =>
          row.contender.startsWith('inferlet silero-vad fp32, one file (16 kHz)')
            ? { ...row, 'RTF median': 9999, 'RTF min': 9999, 'RTF max': 9999 }
            : row,
        ),
      },
    };
    const readme = (await documents()).find((d) => d.path === 'README.md')?.text ?? '';

    const rendered = renderFigureBlocks(readme, figureRenderer(rerun));

    expect(rendered).not.toBe(readme);
    expect(rendered).toContain('9999× one file');
  });
});

describe('figure blocks', () => {
  it('replace only the text between the markers, framed by blank lines', () => {
    const markdown = 'before\n<!-- figures:one -->\nold\n<!-- /figures -->\nafter\n';

    const out = renderFigureBlocks(markdown, (name) => `new ${name}`);

    expect(out).toBe('before\n<!-- figures:one -->\n\nnew one\n\n<!-- /figures -->\nafter\n');
    expect(findFigureBlocks(out)).toEqual([{ name: 'one', body: '\nnew one\n', line: 2 }]);
  });

  it.each([
    ['an unclosed block', '<!-- figures:a -->\ntext\n', /line 1: figures:a is not closed/],
    [
      'a block opened inside another',
      '<!-- figures:a -->\n<!-- figures:b -->\n',
      /line 2: figures:b opens inside/,
    ],
    ['a stray closing marker', 'text\n<!-- /figures -->\n', /line 2: <!-- \/figures --> without an opening/],
  ])('refuse %s, naming the line', (_, markdown, message) => {
    expect(() => findFigureBlocks(markdown)).toThrow(message);
    expect(() => renderFigureBlocks(markdown, () => '')).toThrow(message);
  });

  it('name the known blocks when a marker names an unknown one', async () => {
    const render = figureRenderer(await readBenchResults(root));

    expect(() => render('nope')).toThrow(/unknown figures block "nope"; known: performance, ocr, speech/);
  });

  it('pad table columns by characters, as Biome formats tables, and escape pipes', () => {
    const table = markdownTable(
      ['a', 'ratio'],
      [
        ['x|y', '1.5×'],
        ['long cell', ''],
      ],
    );

    expect(table).toBe(
      [
        '| a         | ratio |',
        '| --------- | ----- |',
        '| x\\|y      | 1.5×  |',
        '| long cell |       |',
      ].join('\n'),
    );
  });
});
