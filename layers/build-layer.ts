/**
 * Builds a Node.js Lambda layer folder (`nodejs/node_modules/...`) by copying chosen files of installed
 * packages, so a layer holds what one platform needs rather than every platform's binaries.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: packages are resolved from its `node_modules`. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where layer folders are built unless told otherwise (ignored by git through `dist/`). */
export const LAYERS_BUILD_DIR = join(PROJECT_ROOT, 'dist', 'layers');

/** One installed package to copy into a layer. */
export interface LayerPackage {
  /** The package name, e.g. `onnxruntime-node` or `@img/sharp-linux-x64`. */
  readonly name: string;
  /**
   * Paths inside the package to copy (files or folders). Default: the whole package folder, less any
   * nested `node_modules` (dependencies are listed as packages of their own).
   */
  readonly paths?: readonly string[];
  /**
   * The package that depends on this one; resolution starts from its folder, the way Node's does, so a
   * nested copy is preferred to a hoisted one. Default: the project root.
   */
  readonly requiredBy?: string;
  /** Why this package is missing, when it is: appended to the error. */
  readonly installHint?: string;
}

/** What {@link buildPackageLayer} produced. */
export interface LayerBuild {
  /** The folder to zip as the layer: it holds `nodejs/node_modules`. */
  readonly directory: string;
  /** Total size of the files in the layer, as Lambda counts it against the 250 MB limit. */
  readonly unzippedBytes: number;
  /** Every file of the layer, relative to {@link LayerBuild.directory}, with `/` separators, sorted. */
  readonly files: readonly string[];
}

/** Options of {@link buildPackageLayer}. */
export interface BuildLayerOptions {
  /** The folder to (re)create; its previous content is replaced. */
  readonly outDir: string;
  /** The packages to copy, each under `nodejs/node_modules/<name>`. */
  readonly packages: readonly LayerPackage[];
  /** Fails the build when the layer grows past this size. Default: no limit. */
  readonly maxUnzippedBytes?: number;
  /** Where package resolution starts for packages without `requiredBy`. Default: {@link PROJECT_ROOT}. */
  readonly projectRoot?: string;
}

/**
 * Copies the chosen files of installed packages into `<outDir>/nodejs/node_modules` and measures the
 * result. Synchronous, so a CDK construct can call it while the app is being constructed.
 *
 * The layer is assembled in a sibling folder and moved into place at the end, so a reader never sees a
 * half-copied layer.
 *
 * @example
 * ```ts
 * const layer = buildPackageLayer({
 *   outDir: 'dist/layers/semver',
 *   packages: [{ name: 'semver', paths: ['package.json', 'index.js', 'classes', 'functions', 'internal', 'ranges'] }],
 * });
 * console.log(layer.directory, layer.unzippedBytes);
 * ```
 */
export function buildPackageLayer(options: BuildLayerOptions): LayerBuild {
  const projectRoot = options.projectRoot ?? PROJECT_ROOT;
  const outDir = resolve(options.outDir);
  const staging = `${outDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    const resolved = new Map<string, string>();
    for (const pkg of options.packages) {
      const from = pkg.requiredBy ? resolved.get(pkg.requiredBy) : projectRoot;
      if (!from)
        throw new Error(`layer package ${pkg.name} is required by ${pkg.requiredBy}, listed after it`);
      const source = resolvePackageDir(pkg.name, from, pkg.installHint);
      resolved.set(pkg.name, source);
      const target = join(staging, 'nodejs', 'node_modules', ...pkg.name.split('/'));
      copyPackage(pkg, source, target);
    }
    const files = listFiles(staging);
    const unzippedBytes = files.reduce((sum, file) => sum + statSync(join(staging, file)).size, 0);
    if (options.maxUnzippedBytes !== undefined && unzippedBytes > options.maxUnzippedBytes) {
      throw new Error(
        `layer ${outDir} is ${formatMegabytes(unzippedBytes)} unzipped, over its limit of ${formatMegabytes(options.maxUnzippedBytes)}`,
      );
    }
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(dirname(outDir), { recursive: true });
    renameSync(staging, outDir);
    return { directory: outDir, unzippedBytes, files };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Sizes for people: `47.1 MB` (10^6 bytes, as Lambda's limits are stated). */
export function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Finds an installed package the way Node does: `node_modules/<name>` in `from` or its nearest ancestor.
 * Package `exports` are not consulted, so platform packages that export only their binary are found too.
 */
export function resolvePackageDir(name: string, from: string, installHint?: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(
    `package ${name} is not installed (looked up from ${from})${installHint ? `: ${installHint}` : ''}`,
  );
}

function copyPackage(pkg: LayerPackage, source: string, target: string): void {
  if (!pkg.paths) {
    cpSync(source, target, {
      recursive: true,
      filter: (path) => !relative(source, path).split(sep).includes('node_modules'),
    });
    return;
  }
  for (const path of pkg.paths) {
    const from = join(source, path);
    if (!existsSync(from)) throw new Error(`package ${pkg.name} has no ${path} (in ${source})`);
    cpSync(from, join(target, path), { recursive: true });
  }
}

function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}
