/** Which documents may hold figure blocks. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** README.md and every page in docs/, relative to `root`, in a stable order. */
export async function documentPaths(root: string): Promise<string[]> {
  const pages = (await readdir(join(root, 'docs'))).filter((name) => name.endsWith('.md')).sort();
  return ['README.md', ...pages.map((name) => join('docs', name))];
}
