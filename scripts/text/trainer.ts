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
  /**
   * Probability that each distinct feature of an example is left out of one update (feature dropout): the
   * model cannot lean on a few tokens that happened to separate the training set. Mean pooling needs no
   * rescaling. 0 or absent: none (and the same weights as before the option existed).
   */
  readonly dropout?: number;
  /** L2 weight decay per update, applied to the embedding rows an update touches and the linear layer. */
  readonly weightDecay?: number;
  /** Weight of each class's examples in the loss, by class index; absent: 1 each. */
  readonly classWeights?: readonly number[];
  /**
   * Features found in more than this share of the training examples ("the", "you", "please": the register
   * of a corpus rather than its classes) keep a zero embedding: they still count in a text's mean, so
   * serving needs no change, but they push neither way. Absent: every feature learns.
   */
  readonly maxDocumentFrequency?: number;
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
  const dropout = options.dropout ?? 0;
  const decay = options.weightDecay ?? 0;
  const classWeights = options.classWeights ?? [];
  const random = seededRandom(seed);
  const embedding = new Float32Array(buckets * dim);
  // fastText's initialisation: uniform in [-1/D, 1/D]; the linear layer starts at zero.
  for (let i = 0; i < buckets * dim; i++) embedding[i] = (random() * 2 - 1) / dim;
  const weight = new Float32Array(dim * classes);
  const bias = new Float32Array(classes);

  const usable = examples.filter((e) => e.ids.length > 0).map(countIds);
  const kept = new Uint8Array(usable.reduce((most, e) => Math.max(most, e.ids.length), 0));
  const frozen = new Uint8Array(options.maxDocumentFrequency === undefined ? 0 : buckets);
  if (options.maxDocumentFrequency !== undefined) {
    const documents = new Int32Array(buckets);
    for (const e of usable) for (const id of e.ids) documents[id] = (documents[id] as number) + 1;
    const most = options.maxDocumentFrequency * usable.length;
    for (let id = 0; id < buckets; id++) {
      if ((documents[id] as number) <= most) continue;
      frozen[id] = 1;
      embedding.fill(0, id * dim, (id + 1) * dim);
    }
  }
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
      const { ids, counts, label } = usable[index] as CountedExample;
      let { n } = usable[index] as CountedExample;
      const rate = lr * (1 - step / total);
      step++;
      // Which distinct ids take part in this update; the random draws happen only with dropout, so a
      // recipe without it gets the same weights as before.
      const keep = dropout > 0 ? kept : undefined;
      if (keep) {
        n = 0;
        for (let k = 0; k < ids.length; k++) {
          keep[k] = random() >= dropout ? 1 : 0;
          if (keep[k]) n += counts[k] as number;
        }
        if (n === 0) continue;
      }
      hidden.fill(0);
      for (let k = 0; k < ids.length; k++) {
        if (keep && !keep[k]) continue;
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
      const scale = rate * (classWeights[label] ?? 1);
      for (let c = 0; c < classes; c++)
        gradLogits[c] = scale * ((logits[c] as number) / sum - (c === label ? 1 : 0));
      gradHidden.fill(0);
      for (let d = 0; d < dim; d++) {
        const h = hidden[d] as number;
        let g = 0;
        for (let c = 0; c < classes; c++) {
          const at = d * classes + c;
          g += (weight[at] as number) * (gradLogits[c] as number);
          weight[at] = (weight[at] as number) * (1 - rate * decay) - h * (gradLogits[c] as number);
        }
        gradHidden[d] = g / n;
      }
      for (let c = 0; c < classes; c++) bias[c] = (bias[c] as number) - (gradLogits[c] as number);
      const shrink = 1 - rate * decay;
      for (let k = 0; k < ids.length; k++) {
        if ((keep && !keep[k]) || frozen[ids[k] as number]) continue;
        const row = (ids[k] as number) * dim;
        const count = counts[k] as number;
        for (let d = 0; d < dim; d++) {
          embedding[row + d] = (embedding[row + d] as number) * shrink - count * (gradHidden[d] as number);
        }
      }
    }
  }
  return { buckets, dim, classes, embedding, weight, bias };
}
