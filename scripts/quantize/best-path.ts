/**
 * Best-path outputs for a CTC recogniser: beside its `[N, T, C]` probabilities, the class of highest
 * probability at each step (`ArgMax`, int64 `[N, T]`) and that probability (`ReduceMax`, `[N, T]`), which is
 * all greedy CTC decoding reads. A caller that fetches only these gets 2 numbers a step instead of C (PP-OCR:
 * 6625, 26 KB a step): the probabilities stay in onnxruntime's arena rather than crossing to JavaScript and a
 * worker thread's message, and the scan over the classes runs in C++.
 */
import { BEST_CLASS, BEST_PROBABILITY } from '../../functions/image/ctc-decode.ts';
import { DataType, decodeModel, encodeModel, graphOf, intAttribute, node } from './onnx-graph.ts';

export { BEST_CLASS, BEST_PROBABILITY };

/**
 * The model with {@link BEST_CLASS} and {@link BEST_PROBABILITY} computed from its one `[N, T, C]` output
 * (over the last axis; ties go to the lowest class, as a scan that keeps the first maximum does).
 *
 * @throws where the model has not exactly one output, or already has these.
 */
export function withBestPathOutputs(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const graph = graphOf(model);
  const outputs = graph.output ?? [];
  const [probabilities] = outputs;
  if (outputs.length !== 1 || !probabilities?.name) {
    throw new Error(`best-path outputs need a model with one output, not ${outputs.length}`);
  }
  const axes = { name: 'axes', type: 7, ints: [2] };
  graph.node = [
    ...(graph.node ?? []),
    node(
      'ArgMax',
      [probabilities.name],
      [BEST_CLASS],
      [intAttribute('axis', 2), intAttribute('keepdims', 0)],
    ),
    node('ReduceMax', [probabilities.name], [BEST_PROBABILITY], [axes, intAttribute('keepdims', 0)]),
  ];
  const dims = { dim: [{ dimParam: 'N' }, { dimParam: 'T' }] };
  graph.output = [
    ...outputs,
    { name: BEST_CLASS, type: { tensorType: { elemType: DataType.INT64, shape: dims } } },
    { name: BEST_PROBABILITY, type: { tensorType: { elemType: DataType.FLOAT, shape: dims } } },
  ];
  return encodeModel(model);
}
