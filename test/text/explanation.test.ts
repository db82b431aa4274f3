import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { DEFAULT_FEATURIZER } from '../../functions/text/featurizer.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import type { LabelledText } from '../../scripts/text/dataset.ts';
import { trainTextClassifier, writeTextClassifier } from '../../scripts/text/train-classifier.ts';
import { seededRandom } from '../../scripts/text/trainer.ts';

const TOPICS: Record<string, string[]> = {
  finance: ['stock', 'market', 'bank', 'interest', 'loan', 'shares', 'profit', 'bond'],
  sports: ['match', 'goal', 'team', 'league', 'coach', 'season', 'player', 'referee'],
  weather: ['rain', 'sunny', 'storm', 'forecast', 'wind', 'cloud', 'snow', 'humid'],
};
const FILLER = ['the', 'a', 'today', 'we', 'said', 'about', 'very', 'new', 'after', 'this'];

/** Sentences of four topic words among eight filler words, from a seeded generator. */
function topicSentences(count: number, seed: number): LabelledText[] {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
  const labels = Object.keys(TOPICS);
  return Array.from({ length: count }, () => {
    const label = pick(labels);
    const words = [
      ...Array.from({ length: 4 }, () => pick(TOPICS[label] as string[])),
      ...Array.from({ length: 8 }, () => pick(FILLER)),
    ];
    return { label, text: words.sort(() => random() - 0.5).join(' ') };
  });
}

describe('explanations of a three-class model', () => {
  let dir: string;
  let classifier: TextClassifier;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-explain-'));
    const model = trainTextClassifier(topicSentences(300, 3), {
      featurizer: { ...DEFAULT_FEATURIZER, buckets: 4096, charNgrams: [3, 4] },
      training: { dim: 16, epochs: 20, lr: 0.5, seed: 3 },
    });
    await writeTextClassifier(model, { repository: dir, name: 'topics', version: '1' });
    const store = createModelStore({ repository: dir, cacheDir: join(dir, '.cache') });
    classifier = await TextClassifier.create(await store.load('topics'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('classifies held-out sentences by topic', async () => {
    const held = topicSentences(60, 99);

    const results = await classifier.classify(held.map((e) => e.text));

    const correct = results.filter((r, i) => r.label === held[i]?.label).length;
    expect(correct / held.length).toBeGreaterThanOrEqual(0.9);
  });

  it('measures the decision against the runner-up and adds up to its logit difference', async () => {
    const [result] = await classifier.classify(['the storm and the rain after a sunny match'], {
      explainTokens: 100,
    });

    const explanation = result?.explanation;
    const ranked = Object.entries(result?.scores ?? {}).sort((a, b) => b[1] - a[1]);
    expect(result?.label).toBe(ranked[0]?.[0]);
    expect(explanation?.against).toBe(ranked[1]?.[0]);
    const total =
      (explanation?.bias ?? 0) + (explanation?.tokens ?? []).reduce((s, t) => s + t.contribution, 0);
    expect(explanation?.rest).toBe(0);
    expect(Math.abs(total - (explanation?.logitDifference ?? Number.NaN))).toBeLessThan(1e-5);
    const probabilities = ranked.map(([, p]) => p);
    expect(explanation?.logitDifference).toBeCloseTo(
      Math.log((probabilities[0] as number) / (probabilities[1] as number)),
      4,
    );
  });

  it('credits the topic words, not the filler, for the decision', async () => {
    const [result] = await classifier.classify(['today we said the forecast brings snow and wind'], {
      explainTokens: 3,
    });

    expect(result?.label).toBe('weather');
    const top = result?.explanation?.tokens.map((t) => t.token) ?? [];
    expect(top.some((t) => ['forecast', 'snow', 'wind'].includes(t))).toBe(true);
    expect(result?.explanation?.tokens.every((t) => t.contribution > 0)).toBe(true);
  });
});
