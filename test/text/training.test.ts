import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featurize } from '../../functions/text/featurizer.ts';
import { holdOut, type LabelledText, parseCsv, readLabelledFile } from '../../scripts/text/dataset.ts';
import {
  evaluateInMemory,
  predictInMemory,
  searchRecipe,
  trainTextClassifier,
} from '../../scripts/text/train-classifier.ts';
import { SMALL_RECIPE, spamSample, writeJsonl } from '../support/text-models.ts';

describe('training a text classifier', () => {
  let dir: string;
  let sample: { train: LabelledText[]; test: LabelledText[] };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-train-'));
    sample = await spamSample();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('learns spam from ham on a few hundred real messages it reads from JSONL', async () => {
    const file = await writeJsonl(join(dir, 'train.jsonl'), sample.train);
    const examples = await readLabelledFile(file);

    const model = trainTextClassifier(examples, SMALL_RECIPE);
    const report = evaluateInMemory(model, sample.test);

    expect(examples).toHaveLength(sample.train.length);
    expect(model.labels).toEqual(['ham', 'spam']);
    expect(sample.test.length).toBeGreaterThan(20);
    expect(report.accuracy).toBeGreaterThanOrEqual(0.85);
  });

  it('trains the same weights from the same seed, and others from another seed', () => {
    const few = sample.train.filter((_, i) => i % 6 === 0);

    const first = trainTextClassifier(few, SMALL_RECIPE);
    const again = trainTextClassifier(few, SMALL_RECIPE);
    const reseeded = trainTextClassifier(few, {
      ...SMALL_RECIPE,
      training: { ...SMALL_RECIPE.training, seed: 8 },
    });

    expect(
      Buffer.from(again.weights.embedding.buffer).equals(Buffer.from(first.weights.embedding.buffer)),
    ).toBe(true);
    expect(again.weights.weight).toEqual(first.weights.weight);
    expect(reseeded.weights.weight).not.toEqual(first.weights.weight);
  });

  it('keeps the weights of a recipe without the regularisation options, and changes them with each', () => {
    const few = sample.train.filter((_, i) => i % 6 === 0);
    const plain = trainTextClassifier(few, SMALL_RECIPE);
    const explicit = { ...SMALL_RECIPE.training, dropout: 0, classWeights: [1, 1] };

    const same = trainTextClassifier(few, { ...SMALL_RECIPE, training: explicit });
    const changed = [
      { dropout: 0.5 },
      { weightDecay: 1e-3 },
      { classWeights: [3, 1] },
      { maxDocumentFrequency: 0.2 },
    ].map((option) =>
      trainTextClassifier(few, { ...SMALL_RECIPE, training: { ...SMALL_RECIPE.training, ...option } }),
    );

    expect(same.weights.weight).toEqual(plain.weights.weight);
    for (const model of changed) expect(model.weights.weight).not.toEqual(plain.weights.weight);
  });

  it('leaves features found in more than the given share of messages at zero, so they push neither way', () => {
    const few = sample.train.filter((_, i) => i % 3 === 0);
    const recipe = { ...SMALL_RECIPE, training: { ...SMALL_RECIPE.training, maxDocumentFrequency: 0.3 } };

    const model = trainTextClassifier(few, recipe);

    const { embedding, dim } = model.weights;
    const messagesWith = (id: number) =>
      few.filter((e) => featurize(e.text, recipe.featurizer).includes(id)).length;
    const the = featurize('the', { ...recipe.featurizer, charNgrams: [0, 0] })[0] as number;
    const rare = featurize('zygomorphic', { ...recipe.featurizer, charNgrams: [0, 0] })[0] as number;
    expect(messagesWith(the)).toBeGreaterThan(0.3 * few.length);
    expect(Array.from(embedding.subarray(the * dim, (the + 1) * dim)).every((v) => v === 0)).toBe(true);
    expect(Array.from(embedding.subarray(rare * dim, (rare + 1) * dim)).some((v) => v !== 0)).toBe(true);
  });

  it('shifts decisions towards the class it weights more', () => {
    const few = sample.train.filter((_, i) => i % 3 === 0);
    const spamOf = (weights: number[]) => {
      const model = trainTextClassifier(few, {
        ...SMALL_RECIPE,
        training: { ...SMALL_RECIPE.training, classWeights: weights },
      });
      return predictInMemory(
        model,
        sample.test.map((e) => e.text),
      ).filter((l) => l === 'spam').length;
    };

    expect(spamOf([1, 4])).toBeGreaterThan(spamOf([4, 1]));
  });

  it('reads CSV with a header, quoted fields, doubled quotes and newlines inside quotes', async () => {
    const path = join(dir, 'data.csv');
    await writeFile(
      path,
      'label,text\r\nspam,"WIN ""big"", now"\r\nham,"see you\nat lunch"\nham,plain text\n',
    );

    const examples = await readLabelledFile(path);

    expect(examples).toEqual([
      { label: 'spam', text: 'WIN "big", now' },
      { label: 'ham', text: 'see you\nat lunch' },
      { label: 'ham', text: 'plain text' },
    ]);
    expect(parseCsv('a,b\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('names the line of a malformed JSONL record', async () => {
    const path = join(dir, 'bad.jsonl');
    await writeFile(path, '{"text": "ok", "label": "ham"}\n{"text": 5, "label": "ham"}\n');

    await expect(readLabelledFile(path)).rejects.toThrow(/line 2/);
  });

  it('holds out the same validation examples every time, by the hash of the text', () => {
    const examples = sample.train;

    const once = holdOut(examples, 0.2);
    const twice = holdOut(examples, 0.2);

    expect(twice.validation).toEqual(once.validation);
    expect(once.train.length + once.validation.length).toBe(examples.length);
    expect(once.validation.length / examples.length).toBeGreaterThan(0.1);
    expect(once.validation.length / examples.length).toBeLessThan(0.3);
  });

  it('searches recipes on the validation split and keeps the best one', () => {
    const { train, validation } = holdOut(
      sample.train.filter((_, i) => i % 3 === 0),
      0.25,
    );

    const search = searchRecipe(train, validation, SMALL_RECIPE, 3);

    expect(search.trials).toHaveLength(3);
    expect(search.trials[0]?.recipe).toEqual(SMALL_RECIPE);
    const bestAccuracy = Math.max(...search.trials.map((t) => t.accuracy));
    expect(search.trials.find((t) => t.recipe === search.best)?.accuracy).toBe(bestAccuracy);
  });
});
