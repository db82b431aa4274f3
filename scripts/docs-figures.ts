/**
 * `npm run docs:figures`: rewrites every marked figure block (`<!-- figures:NAME -->` … `<!-- /figures -->`)
 * in README.md and docs/*.md from the results files the benches write, so the docs quote each benchmark
 * once, as its last run measured it. Run it after a bench; `--check` only reports the files it would change
 * and exits 1 if there are any (the unit test `test/docs/figures.test.ts` does the same).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readBenchResults } from './docs/bench-results.ts';
import { documentPaths } from './docs/documents.ts';
import { renderFigureBlocks } from './docs/figure-blocks.ts';
import { figureRenderer } from './docs/figures.ts';

const root = process.cwd();
const check = process.argv.includes('--check');
const render = figureRenderer(await readBenchResults(root));
const stale: string[] = [];
for (const path of await documentPaths(root)) {
  const before = await readFile(join(root, path), 'utf8');
  let after: string;
  try {
    after = renderFigureBlocks(before, render);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  if (after === before) continue;
  stale.push(path);
  if (!check) await writeFile(join(root, path), after);
}
if (check && stale.length) {
  process.stderr.write(`figures out of date in ${stale.join(', ')}: run npm run docs:figures\n`);
  process.exit(1);
}
process.stdout.write(
  stale.length ? `${check ? 'stale' : 'rewrote'}: ${stale.join(', ')}\n` : 'figures are up to date\n',
);
