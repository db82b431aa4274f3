/**
 * The sharp layer for x86_64 Lambda: sharp's JavaScript, its linux-x64 glibc binding and libvips, and
 * the packages sharp requires at run time. Other platforms' optional packages are left out.
 *
 *   tsx layers/sharp/build.ts [outDir]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type BuildLayerOptions,
  buildPackageLayer,
  formatMegabytes,
  LAYERS_BUILD_DIR,
  type LayerBuild,
} from '../build-layer.ts';

/** Where {@link buildSharpLayer} builds by default. */
export const SHARP_LAYER_DIR = join(LAYERS_BUILD_DIR, 'sharp');

const LINUX_X64_HINT =
  'install the linux-x64 glibc binaries with `npm install --os=linux --cpu=x64 --libc=glibc sharp`';

/**
 * Packages and paths of the layer. The run-time dependencies are those of sharp's `package.json`
 * (`@img/colour`, `detect-libc`, `semver`); `src/` and `install/` serve only a build from source.
 */
export const SHARP_LAYER_PACKAGES: BuildLayerOptions['packages'] = [
  { name: 'sharp', paths: ['package.json', 'LICENSE', 'dist'] },
  { name: '@img/sharp-linux-x64', requiredBy: 'sharp', installHint: LINUX_X64_HINT },
  { name: '@img/sharp-libvips-linux-x64', requiredBy: 'sharp', installHint: LINUX_X64_HINT },
  { name: '@img/colour', requiredBy: 'sharp' },
  { name: 'detect-libc', requiredBy: 'sharp' },
  { name: 'semver', requiredBy: 'sharp' },
];

/**
 * Builds the sharp layer folder from the installed packages.
 *
 * @param outDir - the folder to (re)create; default {@link SHARP_LAYER_DIR}.
 * @throws when a package is missing, e.g. on a machine that installed another platform's binaries.
 */
export function buildSharpLayer(outDir: string = SHARP_LAYER_DIR): LayerBuild {
  return buildPackageLayer({ outDir, packages: SHARP_LAYER_PACKAGES });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const layer = buildSharpLayer(process.argv[2]);
  console.log(
    `sharp layer: ${layer.directory} (${formatMegabytes(layer.unzippedBytes)} unzipped, ${layer.files.length} files)`,
  );
}
