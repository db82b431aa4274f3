import { copyFile, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type ManifestFile, type ModelManifest, parseManifest } from './manifest.ts';
import { sha256File } from './sha256-file.ts';

/** A file to place in a model version: copied from `source`, or written from `content`. */
export type ModelFileSource = { path: string } & ({ source: string } | { content: Uint8Array | string });

/**
 * Writes one model version into a local repository: the files, then `manifest.json` with the size and
 * sha256 of each (the manifest is written last, through a rename, so a half-written version is never seen).
 *
 * @returns the validated manifest that was written.
 */
export async function writeModelVersion(
  repository: string,
  manifest: Omit<ModelManifest, 'files'>,
  files: readonly ModelFileSource[],
): Promise<ModelManifest> {
  const dir = join(repository, manifest.name, manifest.version);
  await mkdir(dir, { recursive: true });
  const entries: ManifestFile[] = [];
  for (const file of files) {
    const target = join(dir, file.path);
    await mkdir(dirname(target), { recursive: true });
    if ('source' in file) await copyFile(file.source, target);
    else await writeFile(target, file.content);
    entries.push({ path: file.path, bytes: (await stat(target)).size, sha256: await sha256File(target) });
  }
  const full = parseManifest({ ...manifest, files: entries }, `${manifest.name}/${manifest.version}`);
  const tmp = join(dir, `.manifest.json.${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(full, null, 2)}\n`);
  await rename(tmp, join(dir, 'manifest.json'));
  return full;
}
