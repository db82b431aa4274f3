import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { classificationReport, f1Of, formatReport } from '../../scripts/text/classification-report.ts';
import {
  evaluateServedModel,
  evaluationFigures,
  publishEvaluationMetrics,
} from '../../scripts/text/evaluate-model.ts';
import { type SpamTestModel, writeSpamTestModel } from '../support/text-models.ts';

describe('the classification report', () => {
  it('computes accuracy, per-class precision, recall and F1, and the confusion matrix', () => {
    const truth = ['spam', 'spam', 'spam', 'ham', 'ham', 'ham', 'ham', 'ham'];
    const predicted = ['spam', 'spam', 'ham', 'ham', 'ham', 'ham', 'ham', 'spam'];

    const report = classificationReport(truth, predicted, ['ham', 'spam']);

    expect(report.accuracy).toBe(6 / 8);
    expect(report.confusion).toEqual([
      [4, 1],
      [1, 2],
    ]);
    const spam = report.perClass.find((c) => c.label === 'spam');
    expect(spam).toMatchObject({ precision: 2 / 3, recall: 2 / 3, support: 3 });
    expect(f1Of(report, 'ham')).toBeCloseTo(0.8, 10);
    expect(report.macroF1).toBeCloseTo((0.8 + 2 / 3) / 2, 10);
    expect(formatReport(report)).toMatch(/accuracy 75\.00 %/);
  });

  it('keeps labels it was not told about instead of dropping them', () => {
    const report = classificationReport(['a', 'b'], ['a', 'c'], ['a', 'b']);

    expect(report.labels).toEqual(['a', 'b', 'c']);
    expect(report.confusion[1]).toEqual([0, 0, 1]);
  });
});

describe('evaluating a served text model', () => {
  let dir: string;
  let trained: SpamTestModel;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-text-eval-'));
    trained = await writeSpamTestModel(dir);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('scores a variant on held-out data and publishes Accuracy and F1 as EMF with the model dimensions', async () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const store = createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cache') });
    const evaluation = await evaluateServedModel(
      store,
      { name: 'spam-small', variant: 'int8' },
      trained.test,
      16,
    );
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });

    publishEvaluationMetrics('text/classify', evaluation);

    expect(evaluation.model).toEqual({ name: 'spam-small', version: '1', variant: 'int8' });
    expect(evaluation.report.examples).toBe(trained.test.length);
    expect(evaluation.report.accuracy).toBeGreaterThanOrEqual(0.85);
    const records = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
    const main = records.find((r) => 'Accuracy' in r);
    expect(main).toMatchObject({ task: 'text/classify', model: 'spam-small@1', variant: 'int8' });
    expect(main.Accuracy).toBeCloseTo(evaluation.report.accuracy * 100, 6);
    expect(main.F1).toBeCloseTo(evaluation.report.macroF1 * 100, 6);
    const directive = main._aws.CloudWatchMetrics[0];
    expect(directive.Dimensions[0]).toEqual(expect.arrayContaining(['task', 'model', 'variant']));
    expect(directive.Metrics.map((m: { Name: string }) => m.Name)).toEqual(
      expect.arrayContaining(['Accuracy', 'F1']),
    );
    const spam = records.find((r) => r.label === 'spam');
    expect(spam.F1).toBeCloseTo(f1Of(evaluation.report, 'spam') * 100, 6);
  });

  it('keeps counts, rates and the calibration of an evaluation for its results file, and none of the texts', async () => {
    const store = createModelStore({ repository: join(dir, 'repository'), cacheDir: join(dir, 'cache') });
    const evaluation = await evaluateServedModel(
      store,
      { name: 'spam-small', variant: 'fp32' },
      trained.test,
    );

    const figures = evaluationFigures(evaluation, 'held-out.jsonl');

    const [ham, spam] = evaluation.report.confusion as [number[], number[]];
    expect(figures).toMatchObject({
      data: 'held-out.jsonl',
      model: 'spam-small@1',
      variant: 'fp32',
      examples: trained.test.length,
      accuracy: evaluation.report.accuracy,
      positive: 'spam',
      confusion: { ham: { ham: ham[0], spam: ham[1] }, spam: { ham: spam[0], spam: spam[1] } },
    });
    expect(figures.ece).toBe(evaluation.calibration?.ece);
    const saved = JSON.stringify(figures);
    expect(trained.test.some((e) => saved.includes(e.text.slice(0, 20)))).toBe(false);
  });
});
