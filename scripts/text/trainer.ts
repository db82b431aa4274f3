/**
 * Trains a fastText-style classifier in plain TypeScript: per-example SGD on the softmax cross-entropy,
 * learning rate decaying linearly to zero, as fastText's supervised mode does. Deterministic: the same
 * examples, settings and seed give the same weights, bit for bit, on the same Node.js major.
 */
import type { FastTextWeights } from '../../functions/text/fasttext-model.ts';

/** Hyper-parameters of {@link trainFastText}. */
export interface TrainingOptions {
  readonly dim: number;
  readonly epochs: number;
  /** Initial learning rate. */
  readonly lr: number;
  readonly seed: number;
}

/** An example as the trainer sees it: its feature ids and its class index. */
export interface EncodedExample {
  readonly ids: Int32Array;
  readonly label: number;
}

/** An example with each distinct id once and how often it occurs: the same sums, fewer rows touched. */
interface CountedExample {
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  /** Number of ids with repeats (the mean's divisor). */
  readonly n: number;
  readonly label: number;
}

function countIds(example: EncodedExample): CountedExample {
  const sorted = Int32Array.from(example.ids).sort();
  const ids: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) counts[counts.length - 1] = (counts.at(-1) as number) + 1;
    else {
      ids.push(sorted[i] as number);
      counts.push(1);
    }
  }
  return {
    ids: Int32Array.from(ids),
    counts: Float64Array.from(counts),
    n: sorted.length,
    label: example.label,
  };
}

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Trains the embedding [B, D], the linear layer [D, C] and the bias.
 * Examples without features are skipped (they only move the bias, which the others set).
 */
export function trainFastText(
  examples: readonly EncodedExample[],
  shape: { readonly buckets: number; readonly classes: number },
  options: TrainingOptions,
): FastTextWeights {
  const { buckets, classes } = shape;
  const { dim, epochs, lr, seed } = options;
  const random = seededRandom(seed);
  const embedding = new Float32Array(buckets * dim);
  // fastText's initialisation: uniform in [-1/D, 1/D]; the linear layer starts at zero.
  for (let i = 0; i < buckets * dim; i++) embedding[i] = (random() * 2 - 1) / dim;
  const weight = new Float32Array(dim * classes);
  const bias = new Float32Array(classes);

  const usable = examples.filter((e) => e.ids.length > 0).map(countIds);
  const order = Int32Array.from(usable.keys());
  const total = Math.max(1, epochs * usable.length);
  const hidden = new Float64Array(dim);
  const gradHidden = new Float64Array(dim);
  const logits = new Float64Array(classes);
  const gradLogits = new Float64Array(classes);
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = order[i] as number;
      order[i] = order[j] as number;
      order[j] = t;
    }
    for (const index of order) {
      const { ids, counts, n, label } = usable[index] as CountedExample;
      const rate = lr * (1 - step / total);
      step++;
      hidden.fill(0);
      for (let k = 0; k < ids.length; k++) {
        const row = (ids[k] as number) * dim;
        const count = counts[k] as number;
        for (let d = 0; d < dim; d++)
          hidden[d] = (hidden[d] as number) + count * (embedding[row + d] as number);
      }
      for (let d = 0; d < dim; d++) hidden[d] = (hidden[d] as number) / n;
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < classes; c++) {
        let z = bias[c] as number;
        for (let d = 0; d < dim; d++) z += (hidden[d] as number) * (weight[d * classes + c] as number);
        logits[c] = z;
        if (z > max) max = z;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        logits[c] = Math.exp((logits[c] as number) - max);
        sum += logits[c] as number;
      }
      // d(loss)/d(logit) = p − y, scaled by the step size.
      for (let c = 0; c < classes; c++)
        gradLogits[c] = rate * ((logits[c] as number) / sum - (c === label ? 1 : 0));
      gradHidden.fill(0);
      for (let d = 0; d < dim; d++) {
        const h = hidden[d] as number;
        let g = 0;
        for (let c = 0; c < classes; c++) {
          const at = d * classes + c;
          g += (weight[at] as number) * (gradLogits[c] as number);
          weight[at] = (weight[at] as number) - h * (gradLogits[c] as number);
        }
        gradHidden[d] = g / n;
      }
      for (let c = 0; c < classes; c++) bias[c] = (bias[c] as number) - (gradLogits[c] as number);
      for (let k = 0; k < ids.length; k++) {
        const row = (ids[k] as number) * dim;
        const count = counts[k] as number;
        for (let d = 0; d < dim; d++) {
          embedding[row + d] = (embedding[row + d] as number) - count * (gradHidden[d] as number);
        }
      }
    }
  }
  return { buckets, dim, classes, embedding, weight, bias };
}
