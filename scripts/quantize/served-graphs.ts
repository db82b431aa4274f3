/**
 * The float graphs the model repository serves for one OCR model, made from its package's graph: the
 * `fp32` file (folded for the CPU, `cpu-fold.ts`) and the `gpu` file (the package's graph with the nodes
 * WebGPU has no kernel for rewritten, `gpu-rewrite.ts`; the package's graph itself where there are none).
 * Deterministic: the builder here and the GPU check's bundle on a device make the same bytes. Also the graph
 * the quantized variants are made from (`toQuantize`), by the builder and by `npm run quantize`.
 */
import { withBestPathOutputs } from './best-path.ts';
import { type CpuFoldReport, cpuFoldedOf, folded } from './cpu-fold.ts';
import { gpuVariantOf } from './gpu-rewrite.ts';
import type { QuantizationMethod } from './quantize.ts';

export interface ServedGraphs {
  readonly fp32: Uint8Array;
  /** What the int8 variants are made from: the fold without depthwise affines (see `CpuFoldOptions`). */
  readonly toQuantize: Uint8Array;
  readonly folded: CpuFoldReport;
  readonly gpu: Uint8Array;
  /** Opset-9 `Clip` nodes the `gpu` graph has rewritten. */
  readonly gpuClips: number;
  /** Whether the `gpu` graph differs from the `fp32` one (and so needs its own file). */
  readonly gpuDiffers: boolean;
}

/** What {@link servedGraphs} adds to every graph it serves. */
export interface ServedGraphOptions {
  /** A CTC recogniser's best-path outputs (`best-path.ts`), beside its probabilities. */
  readonly bestPath?: boolean;
}

export function servedGraphs(original: Uint8Array, options: ServedGraphOptions = {}): ServedGraphs {
  const finish = (bytes: Uint8Array) => (options.bestPath ? withBestPathOutputs(bytes) : bytes);
  const cpu = cpuFoldedOf(original.slice());
  const gpu = gpuVariantOf(original.slice());
  let toQuantize: Uint8Array | undefined;
  return {
    fp32: finish(folded(cpu.report) ? cpu.bytes : original),
    // Folded a second time only where a quantized variant is made (not for the classifier, nor on a device).
    get toQuantize() {
      toQuantize ??= finish(
        folded(cpu.report) ? cpuFoldedOf(original.slice(), { affineAsDepthwise: false }).bytes : original,
      );
      return toQuantize;
    },
    folded: cpu.report,
    gpu: finish(gpu.report.clip > 0 ? gpu.bytes : original),
    gpuClips: gpu.report.clip,
    gpuDiffers: folded(cpu.report) || gpu.report.clip > 0,
  };
}

/**
 * The graph a method rewrites: the int8 methods the fold without depthwise affines (`toQuantize`), fp16
 * (float compute) and mixed (float but for a few Convs) the fp32 file.
 */
export function graphFor(graphs: ServedGraphs, method: QuantizationMethod): Uint8Array {
  return method === 'fp16' || method === 'mixed' ? graphs.fp32 : graphs.toQuantize;
}
