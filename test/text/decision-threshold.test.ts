import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { TextClassifier } from '../../functions/text/text-classifier.ts';
import {
  calibration,
  reliabilitySvg,
  thresholdForFalsePositiveRate,
} from '../../scripts/text/calibration.ts';
import { evaluateServedModel } from '../../scripts/text/evaluate-model.ts';
import { trainTextClassifier, writeTextClassifier } from '../../scripts/text/train-classifier.ts';
import { SMALL_RECIPE, spamSample } from '../support/text-models.ts';

describe('the threshold for a false-positive rate', () => {
  it('flags at most the given share of negatives, ties at the cut included', () => {
    const ham = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.95];

    const none = thresholdForFalsePositiveRate(ham, 0);
    const tenth = thresholdForFalsePositiveRate(ham, 0.1);
    const fifth = thresholdForFalsePositiveRate(ham, 0.2);

    expect(ham.filter((s) => s >= none)).toEqual([]);
    expect(none).toBeGreaterThan(0.95);
    // One of ten may be flagged, but the two highest tie: flagging one means flagging both, so none is.
    expect(ham.filter((s) => s >= tenth)).toEqual([]);
    expect(ham.filter((s) => s >= fifth)).toEqual([0.95, 0.95]);
  });

  it('never goes below its floor', () => {
    expect(thresholdForFalsePositiveRate([0.01, 0.02], 0.01)).toBe(0.5);
  });
});

describe('calibration', () => {
  it('gives zero expected calibration error to scores that match the observed rates', () => {
    const examples = [
      ...Array.from({ length: 4 }, (_, i) => ({ score: 0.25, positive: i === 0 })),
      ...Array.from({ length: 4 }, (_, i) => ({ score: 0.75, positive: i !== 0 })),
    ];

    expect(calibration(examples).ece).toBeCloseTo(0, 12);
  });

  it('measures the gap between confidence and outcome, weighted by bin size', () => {
    const examples = [
      ...Array.from({ length: 3 }, () => ({ score: 0.95, positive: false })),
      { score: 0.05, positive: false },
    ];

    expect(calibration(examples).ece).toBeCloseTo((3 / 4) * 0.95 + (1 / 4) * 0.05, 12);
  });

  it('draws a reliability diagram as SVG with a legend naming each set and its ECE', () => {
    const c = calibration([
      { score: 0.2, positive: false },
      { score: 0.9, positive: true },
    ]);

    const svg = reliabilitySvg([{ name: 'modern-mail:<test>', calibration: c }], 'Reliability');

    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('modern-mail:&lt;test&gt; (ECE 0.150)');
    expect(svg.match(/<circle /g)).toHaveLength(2);
  });
});

describe('a classifier with a decision threshold in its manifest', () => {
  let dir: string;
  let plain: TextClassifier;
  let guarded: TextClassifier;
  let texts: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-threshold-'));
    const { train, test } = await spamSample(40);
    const model = trainTextClassifier(train, SMALL_RECIPE);
    const repository = join(dir, 'repository');
    await writeTextClassifier(model, { repository, name: 'plain', version: '1' });
    await writeTextClassifier(model, {
      repository,
      name: 'guarded',
      version: '1',
      decision: { label: 'spam', threshold: 0.9, rationale: 'test' },
    });
    const store = createModelStore({ repository, cacheDir: join(dir, 'cache') });
    plain = await TextClassifier.create(await store.load('plain'));
    guarded = await TextClassifier.create(await store.load('guarded'));
    texts = test.map((e) => e.text);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('labels spam only from the threshold up and keeps the model scores', async () => {
    const before = await plain.classify(texts);
    const after = await guarded.classify(texts, { explainTokens: 3 });

    const between = before.filter(
      (r) => r.scores.spam !== undefined && r.scores.spam >= 0.5 && r.scores.spam < 0.9,
    );
    expect(between.length).toBeGreaterThan(0);
    for (const [i, result] of after.entries()) {
      const spam = before[i]?.scores.spam as number;
      expect(result.scores).toEqual(before[i]?.scores);
      expect(result.label).toBe(spam >= 0.9 ? 'spam' : 'ham');
      expect(result.score).toBe(result.scores[result.label]);
      expect(result.explanation?.against).toBe(result.label === 'spam' ? 'ham' : 'spam');
    }
  });

  it('reports its threshold and the calibration of the spam probability when evaluated', async () => {
    const store = createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cache') });
    const examples = texts.map((text, i) => ({ text, label: i % 2 ? 'spam' : 'ham' }));

    const evaluation = await evaluateServedModel(store, { name: 'guarded' }, examples);

    expect(evaluation.threshold).toBe(0.9);
    expect(evaluation.positive).toBe('spam');
    expect(evaluation.scored).toHaveLength(examples.length);
    expect(evaluation.calibration?.ece).toBeGreaterThan(0);
  });

  it('refuses a manifest whose threshold is not a probability', () => {
    const manifest = {
      name: 'm',
      version: '1',
      task: 'text/classify',
      platform: 'onnxruntime',
      inputs: [],
      outputs: [],
      maxBatchSize: 0,
      files: [],
      variants: { fp32: {} },
      defaultVariant: 'fp32',
      decision: { label: 'spam', threshold: 1 },
    };

    expect(() => parseManifest(manifest, 'test')).toThrow(/decision\.threshold/);
  });
});
