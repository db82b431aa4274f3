/**
 * Writes the `gpu` variant files of a model repository from its fp32 files, where the manifest lists one
 * that is missing, and checks each against the manifest's sha256. The GPU check's bundle carries only the
 * fp32 files (the 60 MiB a device takes holds one copy of the recogniser, not two); the rewrite is
 * deterministic, so the file made on the device is the one the builder made here, byte for byte.
 *
 *   node app/gpu-variants.mjs models
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gpuVariantOf } from '../quantize/gpu-rewrite.ts';

interface Manifest {
  readonly files: readonly { path: string; sha256: string }[];
  readonly variants: Readonly<Record<string, { file?: string }>>;
}

/** Writes the missing `gpu` variants under `repository`; resolves to the paths written. */
export async function writeGpuVariants(repository: string): Promise<string[]> {
  const written: string[] = [];
  for (const name of await readdir(repository)) {
    for (const version of await readdir(join(repository, name))) {
      const dir = join(repository, name, version);
      const manifestPath = join(dir, 'manifest.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
      const gpu = manifest.variants.gpu?.file;
      const fp32 = manifest.variants.fp32?.file;
      if (!gpu || !fp32 || existsSync(join(dir, gpu))) continue;
      const { bytes } = gpuVariantOf(new Uint8Array(await readFile(join(dir, fp32))));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const expected = manifest.files.find((f) => f.path === gpu)?.sha256;
      if (sha256 !== expected) {
        throw new Error(
          `${name}/${version}/${gpu}: rewrite gives sha256 ${sha256}, manifest says ${expected}`,
        );
      }
      await writeFile(join(dir, gpu), bytes);
      written.push(join(dir, gpu));
    }
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const written = await writeGpuVariants(process.argv[2] ?? 'models');
  process.stdout.write(`gpu variants written: ${written.length ? written.join(', ') : 'none needed'}\n`);
}
