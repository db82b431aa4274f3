/**
 * Writes the float graphs of a model repository's OCR models (the `fp32` and `gpu` variant files) from the
 * package graph beside each manifest (`package.onnx`), where the manifest lists them and they are missing,
 * and checks each against the manifest's sha256. The GPU check's bundle carries only the package graphs
 * (the 60 MiB a device takes holds one copy of the recogniser, not two); the rewrites are deterministic, so
 * the files made on the device are the ones the builder made here, byte for byte.
 *
 *   node app/gpu-variants.mjs models
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BEST_CLASS } from '../quantize/best-path.ts';
import { servedGraphs } from '../quantize/served-graphs.ts';

/** The package's graph of a model, as the bundle carries it beside the manifest. */
export const PACKAGE_GRAPH = 'package.onnx';

interface Manifest {
  readonly files: readonly { path: string; sha256: string }[];
  readonly outputs: readonly { name: string }[];
  readonly variants: Readonly<Record<string, { file?: string }>>;
}

/** Writes the missing `fp32` and `gpu` graphs under `repository`; resolves to the paths written. */
export async function writeGpuVariants(repository: string): Promise<string[]> {
  const written: string[] = [];
  for (const name of await readdir(repository)) {
    for (const version of await readdir(join(repository, name))) {
      const dir = join(repository, name, version);
      const manifestPath = join(dir, 'manifest.json');
      if (!existsSync(manifestPath) || !existsSync(join(dir, PACKAGE_GRAPH))) continue;
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
      // The builder adds a recogniser's best-path outputs to every graph; its manifest declares them.
      const bestPath = manifest.outputs.some((o) => o.name === BEST_CLASS);
      const graphs = servedGraphs(new Uint8Array(await readFile(join(dir, PACKAGE_GRAPH))), { bestPath });
      for (const [variant, bytes] of [
        ['fp32', graphs.fp32],
        ['gpu', graphs.gpu],
      ] as const) {
        const file = manifest.variants[variant]?.file;
        if (!file || existsSync(join(dir, file))) continue;
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        const expected = manifest.files.find((f) => f.path === file)?.sha256;
        if (sha256 !== expected) {
          throw new Error(
            `${name}/${version}/${file}: rewrite gives sha256 ${sha256}, manifest says ${expected}`,
          );
        }
        await writeFile(join(dir, file), bytes);
        written.push(join(dir, file));
      }
    }
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const written = await writeGpuVariants(process.argv[2] ?? 'models');
  process.stdout.write(`model graphs written: ${written.length ? written.join(', ') : 'none needed'}\n`);
}
