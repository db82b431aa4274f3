/**
 * The one import of `onnxruntime-node` in `functions/`: every pipeline, the model store and the OIP routes
 * take onnxruntime from here, so its process-wide settings hold before any of them creates a session,
 * whichever module loads first.
 *
 * @example
 * ```ts
 * import { ort } from '../core/onnx.ts';
 * const tensor = new ort.Tensor('float32', data, [1, 3, 48, 320]);
 * ```
 */
import * as ort from 'onnxruntime-node';

// onnxruntime's own logger writes coloured text lines to stderr, outside the JSON logs, even at `error`
// (a failed run prints its message, /onnxruntime_src paths included, before throwing it). Every error it
// has is thrown to the caller, who logs it as JSON: its logger keeps only `fatal`. The environment level
// is read when the first session is created, so it is set when this module loads.
ort.env.logLevel = 'fatal';

export { ort };

/** A loaded model's session. */
export type InferenceSession = ort.InferenceSession;
/** A tensor given to or taken from a session. */
export type Tensor = ort.Tensor;
