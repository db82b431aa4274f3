/**
 * The weights of a fastText-style classifier and its forward pass in plain TypeScript:
 * embedding table [B, D] → mean over the text's feature ids → linear [D, C] + bias → softmax. Also the int8 form of the weights and the exact per-feature attribution.
 */

import { fromFloat16Bits, toFloat16Bits } from '../core/float16.ts';

/** Full-precision weights, row-major. */
export interface FastTextWeights {
  readonly buckets: number;
  readonly dim: number;
  readonly classes: number;
  /** `[buckets, dim]` */
  readonly embedding: Float32Array;
  /** `[dim, classes]` */
  readonly weight: Float32Array;
  /** `[classes]` */
  readonly bias: Float32Array;
}

/**
 * Weights quantized to int8, symmetric: each embedding row has its own scale (stored as float16), each
 * class column of the linear layer its own (float32); the bias stays float32. `value = q * scale`.
 */
export interface QuantizedFastTextWeights {
  readonly buckets: number;
  readonly dim: number;
  readonly classes: number;
  /** `[buckets, dim]` */
  readonly embedding: Int8Array;
  /** `[buckets]`, IEEE float16 bit patterns */
  readonly embeddingScale: Uint16Array;
  /** `[dim, classes]` */
  readonly weight: Int8Array;
  /** `[classes]` */
  readonly weightScale: Float32Array;
  readonly bias: Float32Array;
}

/** Quantizes weights to int8 (see {@link QuantizedFastTextWeights}). */
export function quantizeWeights(w: FastTextWeights): QuantizedFastTextWeights {
  const rows = w.buckets;
  const embedding = new Int8Array(rows * w.dim);
  const embeddingScale = new Uint16Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < w.dim; d++) max = Math.max(max, Math.abs(w.embedding[r * w.dim + d] as number));
    const bits = toFloat16Bits(max / 127);
    // Quantize against the scale as stored (float16), so that q * scale is the nearest value it can give.
    const scale = fromFloat16Bits(bits);
    embeddingScale[r] = bits;
    if (scale === 0) continue;
    for (let d = 0; d < w.dim; d++) {
      const q = Math.round((w.embedding[r * w.dim + d] as number) / scale);
      embedding[r * w.dim + d] = Math.max(-127, Math.min(127, q));
    }
  }
  const weight = new Int8Array(w.dim * w.classes);
  const weightScale = new Float32Array(w.classes);
  for (let c = 0; c < w.classes; c++) {
    let max = 0;
    for (let d = 0; d < w.dim; d++) max = Math.max(max, Math.abs(w.weight[d * w.classes + c] as number));
    weightScale[c] = max / 127;
    const scale = weightScale[c] as number;
    if (scale === 0) continue;
    for (let d = 0; d < w.dim; d++) {
      const q = Math.round((w.weight[d * w.classes + c] as number) / scale);
      weight[d * w.classes + c] = Math.max(-127, Math.min(127, q));
    }
  }
  return {
    buckets: w.buckets,
    dim: w.dim,
    classes: w.classes,
    embedding,
    embeddingScale,
    weight,
    weightScale,
    bias: Float32Array.from(w.bias),
  };
}

/** The float weights an int8 model computes with: `q * scale`, rounded to float32 as the graph does. */
export function dequantizeWeights(q: QuantizedFastTextWeights): FastTextWeights {
  const embedding = new Float32Array(q.embedding.length);
  for (let r = 0; r < q.buckets; r++) {
    const scale = fromFloat16Bits(q.embeddingScale[r] as number);
    for (let d = 0; d < q.dim; d++) embedding[r * q.dim + d] = (q.embedding[r * q.dim + d] as number) * scale;
  }
  const weight = new Float32Array(q.weight.length);
  for (let d = 0; d < q.dim; d++) {
    for (let c = 0; c < q.classes; c++) {
      weight[d * q.classes + c] = (q.weight[d * q.classes + c] as number) * (q.weightScale[c] as number);
    }
  }
  return {
    buckets: q.buckets,
    dim: q.dim,
    classes: q.classes,
    embedding,
    weight,
    bias: Float32Array.from(q.bias),
  };
}

/** Mean of the embedding rows of `ids` (zeros for no ids). */
export function meanEmbedding(w: FastTextWeights, ids: ArrayLike<number>): Float64Array {
  const pooled = new Float64Array(w.dim);
  for (let i = 0; i < ids.length; i++) {
    const row = (ids[i] as number) * w.dim;
    for (let d = 0; d < w.dim; d++) pooled[d] = (pooled[d] as number) + (w.embedding[row + d] as number);
  }
  const n = Math.max(ids.length, 1);
  for (let d = 0; d < w.dim; d++) pooled[d] = (pooled[d] as number) / n;
  return pooled;
}

/** The logits of one text's feature ids: `mean(E[ids]) · W + b`. */
export function forwardLogits(w: FastTextWeights, ids: ArrayLike<number>): Float64Array {
  const pooled = meanEmbedding(w, ids);
  const logits = Float64Array.from(w.bias);
  for (let d = 0; d < w.dim; d++) {
    const h = pooled[d] as number;
    for (let c = 0; c < w.classes; c++)
      logits[c] = (logits[c] as number) + h * (w.weight[d * w.classes + c] as number);
  }
  return logits;
}

/** Softmax, numerically stable. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp((logits[i] as number) - max);
    sum += out[i] as number;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/**
 * The exact share of each feature occurrence in `logit[label] − logit[other]`: for mean pooling followed
 * by a linear layer, `(E[id] · (W[:, label] − W[:, other])) / n`. These shares plus
 * `bias[label] − bias[other]` add up to the logit difference.
 */
export function featureContributions(
  w: FastTextWeights,
  ids: ArrayLike<number>,
  label: number,
  other: number,
): Float64Array {
  const direction = new Float64Array(w.dim);
  for (let d = 0; d < w.dim; d++) {
    direction[d] = (w.weight[d * w.classes + label] as number) - (w.weight[d * w.classes + other] as number);
  }
  const n = Math.max(ids.length, 1);
  const out = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const row = (ids[i] as number) * w.dim;
    let dot = 0;
    for (let d = 0; d < w.dim; d++) dot += (w.embedding[row + d] as number) * (direction[d] as number);
    out[i] = dot / n;
  }
  return out;
}
