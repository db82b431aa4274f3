import { RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Code, type ILayerVersion, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';

/** Props of {@link NativeLayers}. */
export interface NativeLayersProps {
  /**
   * Builds the onnxruntime-node layer folder and says where it is. Called once, synchronously, while the
   * construct is created, so `cdk synth` needs no separate build step.
   * @default buildOnnxRuntimeLayer (into `dist/layers/onnxruntime`)
   */
  readonly buildOnnxRuntime?: () => LayerBuild;
  /**
   * Builds the sharp layer folder and says where it is; called like {@link NativeLayersProps.buildOnnxRuntime}.
   * @default buildSharpLayer (into `dist/layers/sharp`)
   */
  readonly buildSharp?: () => LayerBuild;
  /**
   * What happens to a layer version the stack no longer uses. Functions published against it keep working
   * either way.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The Lambda layers that carry the native packages the function bundles leave out (`EXTERNAL_PACKAGES` of
 * `scripts/bundle.ts`): onnxruntime-node and sharp, each holding only what x86_64 Linux (glibc) needs.
 *
 * @example
 * ```ts
 * const layers = new NativeLayers(this, 'NativeLayers');
 * new NodejsFunction(this, 'Fn', { layers: layers.all, architecture: Architecture.X86_64, ... });
 * ```
 */
export class NativeLayers extends Construct {
  /** `onnxruntime-node` with its linux-x64 CPU binaries and `onnxruntime-common`. */
  readonly onnxRuntime: LayerVersion;
  /** `sharp` with its linux-x64 glibc binding, libvips and run-time dependencies. */
  readonly sharp: LayerVersion;
  /** What was built for {@link NativeLayers.onnxRuntime}: folder, files, unzipped size. */
  readonly onnxRuntimeBuild: LayerBuild;
  /** What was built for {@link NativeLayers.sharp}. */
  readonly sharpBuild: LayerBuild;

  constructor(scope: Construct, id: string, props: NativeLayersProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;

    this.onnxRuntimeBuild = (props.buildOnnxRuntime ?? buildOnnxRuntimeLayer)();
    this.onnxRuntime = nodeLayer(this, 'OnnxRuntime', this.onnxRuntimeBuild, {
      description: 'onnxruntime-node for linux-x64 (CPU only)',
      removalPolicy,
    });

    this.sharpBuild = (props.buildSharp ?? buildSharpLayer)();
    this.sharp = nodeLayer(this, 'Sharp', this.sharpBuild, {
      description: 'sharp with libvips for linux-x64 glibc',
      removalPolicy,
    });
  }

  /** Both layers, in the order a function lists them. */
  get all(): ILayerVersion[] {
    return [this.onnxRuntime, this.sharp];
  }

  /** The layers that provide `packages` (`onnxruntime-node`, `sharp`), in the order of {@link NativeLayers.all}. */
  forPackages(packages: readonly string[]): ILayerVersion[] {
    const unknown = packages.filter((name) => name !== 'onnxruntime-node' && name !== 'sharp');
    if (unknown.length > 0) throw new Error(`no layer provides ${unknown.join(', ')}`);
    return [
      ...(packages.includes('onnxruntime-node') ? [this.onnxRuntime] : []),
      ...(packages.includes('sharp') ? [this.sharp] : []),
    ];
  }
}

function nodeLayer(
  scope: Construct,
  id: string,
  build: LayerBuild,
  options: { readonly description: string; readonly removalPolicy: RemovalPolicy },
): LayerVersion {
  return new LayerVersion(scope, id, {
    code: Code.fromAsset(build.directory),
    description: options.description,
    compatibleArchitectures: [Architecture.X86_64],
    compatibleRuntimes: [Runtime.NODEJS_22_X],
    removalPolicy: options.removalPolicy,
  });
}
