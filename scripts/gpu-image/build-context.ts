/**
 * The GPU image's application folder, built without Docker, npm or the network: the HTTP server (the same
 * app as `npm start`) bundled by esbuild into one file, the page built, and the production packages that
 * cannot be bundled (onnxruntime-node and sharp, with their native libraries and their own dependencies)
 * copied from this checkout's node_modules, onnxruntime-node trimmed to linux-x64 (its bundled CPU and
 * WebGPU providers: 47 MB instead of 288). The Dockerfile runs this in its build stage; the tests run it
 * too, then start the server from the folder (test/server/gpu-image.test.ts); `npm run gpu:bundle` packs it.
 *
 *   node --import tsx scripts/gpu-image/build-context.ts OUT_DIR
 *
 * `npm ci --omit=dev` is not the route: it needs the registry (or a complete cache) and installs every
 * production package, the AWS SDK and zod included, which the bundle already holds.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { buildPage } from '../../functions/web/build-page.ts';
import { bundleFunction, EXTERNAL_PACKAGES } from '../bundle.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const require = createRequire(join(ROOT, 'package.json'));

/** Where the bundled server is, inside the folder. */
export const SERVER_ENTRY = 'dist/server/index.mjs';

/** Node version the bundle targets: the image's (22) and the GPU check's bundled binary (this one's). */
const TARGET = `node${process.versions.node.split('.')[0]}`;

/**
 * The folder of package `name` as Node would find it from `from`: the nearest `node_modules/<name>` up
 * the tree (not `require.resolve`, which an `exports` map without `package.json` refuses). Undefined for a
 * package not installed, such as sharp's optional packages of other platforms.
 */
function installed(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** onnxruntime-node's dependencies besides onnxruntime-common serve only its install script (downloads). */
const INSTALL_ONLY: Readonly<Record<string, readonly string[]>> = {
  'onnxruntime-node': ['adm-zip', 'global-agent'],
};

/**
 * The installed production closure of `roots`: each package with its `dependencies` and the
 * `optionalDependencies` this platform installed (sharp's `@img/sharp-linux-x64` and libvips).
 */
async function closure(roots: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const visit = async (name: string, from: string) => {
    const dir = installed(name, from);
    if (!dir || found.has(name)) return;
    found.set(name, dir);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    const skip = INSTALL_ONLY[name] ?? [];
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      if (!skip.includes(dep)) await visit(dep, dir);
    }
  };
  for (const root of roots) await visit(root, ROOT);
  return found;
}

/** What of onnxruntime-node a linux-x64 server loads: its JS, the binding and the runtime library. */
const ORT_KEEP = [
  'package.json',
  'dist',
  'bin/napi-v6/linux/x64/onnxruntime_binding.node',
  'bin/napi-v6/linux/x64/libonnxruntime.so.1',
];

/** Copies the native packages and their dependencies into `out/node_modules`, onnxruntime trimmed. */
async function copyNativePackages(out: string): Promise<void> {
  for (const [name, dir] of await closure(EXTERNAL_PACKAGES)) {
    const target = join(out, 'node_modules', name);
    if (name === 'onnxruntime-node') {
      for (const part of ORT_KEEP) {
        await mkdir(dirname(join(target, part)), { recursive: true });
        await cp(join(dir, part), join(target, part), { recursive: true, dereference: true });
      }
    } else {
      await cp(dir, target, { recursive: true, dereference: true });
    }
  }
}

/** Bundles `entry` into `outFile` for the Node that builds it (the image's): everything inlined but the native packages. */
export async function bundleServerEntry(entry: string, outFile: string): Promise<void> {
  await bundleFunction(entry, outFile, TARGET);
}

/** Builds the application folder at `out` (emptied first); resolves to its size in bytes. */
export async function buildServerFolder(out: string): Promise<number> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await bundleServerEntry(join(ROOT, 'functions/server/main.ts'), join(out, SERVER_ENTRY));
  await buildPage(join(out, 'dist/web'));
  await copyNativePackages(out);
  await writeFile(
    join(out, 'package.json'),
    `${JSON.stringify({ name: 'inferlet-server', private: true, type: 'module' }, null, 2)}\n`,
  );
  return folderBytes(out);
}

async function folderBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await folderBytes(join(path, entry));
  return total;
}

// Resolved here so that a checkout without onnxruntime-node fails before building anything.
require.resolve('onnxruntime-node');

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = resolve(process.argv[2] ?? 'dist/gpu-image');
  const bytes = await buildServerFolder(out);
  process.stdout.write(`server folder at ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);
}
