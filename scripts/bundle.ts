/**
 * Bundles each Lambda entry with esbuild into `dist/<function>/index.mjs` (ESM, Node 22).
 * Native packages stay external: `onnxruntime-node` and `sharp` come from Lambda layers (see layers/).
 *
 *   tsx scripts/bundle.ts [outDir]
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { ALL_TASKS } from '../functions/core/tasks/descriptors.ts';

/** Packages with native binaries that the bundle must not inline. */
export const EXTERNAL_PACKAGES = ['onnxruntime-node', 'sharp'];

/** CommonJS dependencies inside an ESM bundle still call require(); this gives them one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/**
 * Lambda entries: function name -> source file, from the task descriptors: `<key>` for a task's HTTP
 * function and `<key>-uploads` for its upload function (e.g. `text-embed`, `text-embed-uploads`).
 */
export const LAMBDA_ENTRIES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(
    ALL_TASKS.flatMap((task) => [
      [task.key, task.entries.http],
      [`${task.key}-uploads`, task.entries.upload],
    ]),
  ),
);

/**
 * Bundles one entry, everything inlined but the native packages; returns the output file. `target` is the
 * Node the bundle runs on: Lambda's nodejs22.x by default, the building Node for the GPU image.
 */
export async function bundleFunction(entry: string, outFile: string, target = 'node22'): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    target,
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    external: EXTERNAL_PACKAGES,
    banner: { js: ESM_REQUIRE_BANNER },
    logLevel: 'warning',
  });
  return outFile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outDir = resolve(process.argv[2] ?? 'dist');
  for (const [name, entry] of Object.entries(LAMBDA_ENTRIES)) {
    const out = await bundleFunction(entry, join(outDir, name, 'index.mjs'));
    console.log(`${name}: ${out} (${((await stat(out)).size / 1024).toFixed(0)} KiB)`);
  }
}
