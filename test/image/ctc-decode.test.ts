import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  BEST_CLASS,
  BEST_PROBABILITY,
  ctcBestPathDecode,
  ctcCharset,
  ctcGreedyDecode,
} from '../../functions/image/ctc-decode.ts';
import { withBestPathOutputs } from '../../scripts/quantize/best-path.ts';
import { encodeModel, intAttribute, node } from '../../scripts/quantize/onnx-graph.ts';
import { floatValue, values } from '../support/onnx-graphs.ts';

const charset = ctcCharset('h\ne\nl\no\n', true);
const blank = 0;
const space = charset.length - 1;

/** A `[1, T, C]` probability tensor whose best class at step t is `best[t]` with probability `p`. */
function steps(best: readonly number[], p = 0.9): Float32Array {
  const classes = charset.length;
  const probs = new Float32Array(best.length * classes);
  best.forEach((c, t) => {
    probs.fill((1 - p) / (classes - 1), t * classes, (t + 1) * classes);
    probs[t * classes + c] = p;
  });
  return probs;
}

describe('ctcCharset', () => {
  it('puts the blank first and the space last, ignoring a trailing newline', () => {
    expect(charset).toEqual(['', 'h', 'e', 'l', 'o', ' ']);
  });
});

describe('ctcGreedyDecode', () => {
  it('merges repeats, drops blanks and keeps a letter repeated across a blank', () => {
    const best = [1, 1, 2, blank, 3, 3, blank, 3, 4, 4, blank];

    const decoded = ctcGreedyDecode(steps(best), 0, best.length, charset.length, charset);

    expect(decoded.text).toBe('hello');
  });

  it('maps the last class to a space', () => {
    const best = [1, 4, space, space, 1, 4];

    const decoded = ctcGreedyDecode(steps(best), 0, best.length, charset.length, charset);

    expect(decoded.text).toBe('ho ho');
  });

  it('averages the probabilities of the kept characters', () => {
    const classes = charset.length;
    const probs = steps([1, 1, blank, 2], 0.6);
    probs[3 * classes + 2] = 0.8;

    const decoded = ctcGreedyDecode(probs, 0, 4, classes, charset);

    expect(decoded.confidence).toBeCloseTo((0.6 + 0.8) / 2, 6);
  });

  it('reads the requested sample of a batch', () => {
    const first = steps([1, 2]);
    const second = steps([4, 3]);
    const batch = new Float32Array(first.length * 2);
    batch.set(first);
    batch.set(second, first.length);

    const decoded = ctcGreedyDecode(batch, 1, 2, charset.length, charset);

    expect(decoded.text).toBe('ol');
  });

  it('gives empty text and zero confidence when every step is blank', () => {
    const decoded = ctcGreedyDecode(steps([blank, blank, blank]), 0, 3, charset.length, charset);

    expect(decoded).toEqual({ text: '', confidence: 0 });
  });
});

describe('ctcBestPathDecode over the best-path outputs a recogniser graph gains', () => {
  it('reads the same text and confidence as ctcGreedyDecode over the probabilities, sample by sample', async () => {
    const [samples, stepCount, classes] = [3, 40, charset.length];
    const softmax = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'ctc-head',
        node: [node('Softmax', ['logits'], ['probs'], [intAttribute('axis', 2)])],
        input: [floatValue('logits', ['N', 'T', classes])],
        output: [floatValue('probs', ['N', 'T', classes])],
      },
    });
    const session = await ort.InferenceSession.create(withBestPathOutputs(softmax));
    // Sharp logits, as a trained recogniser's: mostly one clear class a step, blanks among them.
    const logits = values(samples * stepCount * classes, 11, -4, 4).map((v, i) =>
      i % classes === (Math.floor(i / classes) * 7 + 3) % classes ? v + 6 : v,
    );

    const out = await session.run({
      logits: new ort.Tensor('float32', logits, [samples, stepCount, classes]),
    });

    expect(session.outputNames).toEqual(['probs', BEST_CLASS, BEST_PROBABILITY]);
    const probs = out.probs?.data as Float32Array;
    const best = out[BEST_CLASS]?.data as BigInt64Array;
    const probability = out[BEST_PROBABILITY]?.data as Float32Array;
    for (let sample = 0; sample < samples; sample++) {
      const full = ctcGreedyDecode(probs, sample, stepCount, classes, charset);
      const path = ctcBestPathDecode(best, probability, sample, stepCount, charset);
      expect(full.text.length).toBeGreaterThan(3);
      expect(path.text).toBe(full.text);
      expect(path.confidence).toBeCloseTo(full.confidence, 6);
    }
    await session.release();
  });
});
