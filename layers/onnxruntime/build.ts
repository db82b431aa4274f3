/**
 * The onnxruntime-node layer for x86_64 Lambda: the JavaScript API, the N-API binding and
 * `libonnxruntime.so.1` for linux-x64, with none of the other platforms' binaries and no CUDA or TensorRT
 * providers (the Lambda tier runs on CPU), about 47 MB unzipped instead of the package's 288 MB.
 *
 *   tsx layers/onnxruntime/build.ts [outDir]
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

/** Where {@link buildOnnxRuntimeLayer} builds by default. */
export const ONNXRUNTIME_LAYER_DIR = join(LAYERS_BUILD_DIR, 'onnxruntime');

/** The project's size budget for this layer: Lambda allows 250 MB for the function and all its layers. */
export const ONNXRUNTIME_LAYER_MAX_BYTES = 50e6;

/** The linux-x64 binaries onnxruntime-node loads: `dist/binding.js` requires `bin/napi-v6/<platform>/<arch>/`. */
const LINUX_X64_BINARIES = ['libonnxruntime.so.1', 'onnxruntime_binding.node'].map(
  (file) => `bin/napi-v6/linux/x64/${file}`,
);

/** Packages and paths of the layer; `adm-zip` and `global-agent` serve only the package's install script. */
export const ONNXRUNTIME_LAYER_PACKAGES: BuildLayerOptions['packages'] = [
  { name: 'onnxruntime-node', paths: ['package.json', 'dist', ...LINUX_X64_BINARIES] },
  { name: 'onnxruntime-common', paths: ['package.json', 'dist'], requiredBy: 'onnxruntime-node' },
];

/**
 * Builds the onnxruntime-node layer folder from the installed package.
 *
 * @param outDir - the folder to (re)create; default {@link ONNXRUNTIME_LAYER_DIR}.
 * @throws when a package is missing or the layer is over {@link ONNXRUNTIME_LAYER_MAX_BYTES}.
 */
export function buildOnnxRuntimeLayer(outDir: string = ONNXRUNTIME_LAYER_DIR): LayerBuild {
  return buildPackageLayer({
    outDir,
    packages: ONNXRUNTIME_LAYER_PACKAGES,
    maxUnzippedBytes: ONNXRUNTIME_LAYER_MAX_BYTES,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const layer = buildOnnxRuntimeLayer(process.argv[2]);
  console.log(
    `onnxruntime layer: ${layer.directory} (${formatMegabytes(layer.unzippedBytes)} unzipped, ${layer.files.length} files)`,
  );
}
