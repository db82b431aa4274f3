import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentPaths } from '../../scripts/docs/documents.ts';

const root = resolve('.');

/** GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown document's headings, code blocks skipped. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.+)$/.exec(line);
    if (heading) anchors.add(anchor(heading[1] as string));
  }
  return anchors;
}

/** Relative links `[text](target)` outside code, with the line they are on. */
function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((line, i) => {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) return;
    for (const match of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] as string;
      if (!/^[a-z]+:/i.test(target)) links.push({ target, line: i + 1 });
    }
  });
  return links;
}

describe('the README and docs/ links', () => {
  it('name headings by the anchors GitHub gives them', () => {
    const markdown =
      '# Voice activity detection (`speech/vad`)\n```sh\n# not a heading\n```\n## Bring your own model\n';

    expect(anchorsOf(markdown)).toEqual(
      new Set(['voice-activity-detection-speechvad', 'bring-your-own-model']),
    );
    expect(linksOf('[a](docs/x.md#y) `[b](c.md)` [c](https://example.com)')).toEqual([
      { target: 'docs/x.md#y', line: 1 },
    ]);
  });

  it('point at files that exist and headings those files have', async () => {
    const broken: string[] = [];
    const paths = await documentPaths(root);
    const texts = new Map(
      await Promise.all(paths.map(async (p) => [p, await readFile(join(root, p), 'utf8')] as const)),
    );

    for (const [path, text] of texts) {
      for (const { target, line } of linksOf(text)) {
        const [file = '', hash] = target.split('#');
        const linked = file ? join(dirname(path), file) : path;
        if (!existsSync(join(root, linked))) broken.push(`${path}:${line} ${target}: no such file`);
        else if (hash && linked.endsWith('.md')) {
          const other = texts.get(linked) ?? (await readFile(join(root, linked), 'utf8'));
          if (!anchorsOf(other).has(hash)) broken.push(`${path}:${line} ${target}: no such heading`);
        }
      }
    }

    expect(broken).toEqual([]);
  });

  it('link the README to every page in docs/', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const pages = (await documentPaths(root)).filter((p) => p !== 'README.md');

    const linked = new Set(linksOf(readme).map((l) => l.target.split('#')[0]));

    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });
});
