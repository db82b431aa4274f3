/** Accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier on labelled data. */

/** Precision, recall and F1 of one class. */
export interface ClassScores {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Examples whose true label this is. */
  readonly support: number;
}

/** The evaluation of a classifier on some examples. */
export interface ClassificationReport {
  readonly labels: readonly string[];
  readonly examples: number;
  readonly accuracy: number;
  /** Unweighted mean of the per-class F1. */
  readonly macroF1: number;
  readonly perClass: readonly ClassScores[];
  /** `confusion[true][predicted]`, in `labels` order. */
  readonly confusion: readonly (readonly number[])[];
}

/**
 * Scores predictions against the truth. Labels met in either that are not in `labels` are appended, so
 * nothing is silently dropped.
 */
export function classificationReport(
  truth: readonly string[],
  predicted: readonly string[],
  labels: readonly string[],
): ClassificationReport {
  if (truth.length !== predicted.length) throw new Error('truth and predictions differ in length');
  const all = [...labels];
  for (const l of [...truth, ...predicted]) if (!all.includes(l)) all.push(l);
  const index = new Map(all.map((l, i) => [l, i]));
  const confusion = all.map(() => new Array<number>(all.length).fill(0));
  let correct = 0;
  for (const [i, t] of truth.entries()) {
    const p = predicted[i] as string;
    const row = confusion[index.get(t) as number] as number[];
    const column = index.get(p) as number;
    row[column] = (row[column] as number) + 1;
    if (t === p) correct++;
  }
  const perClass = all.map((label, c) => {
    const tp = (confusion[c] as number[])[c] as number;
    const support = (confusion[c] as number[]).reduce((s, v) => s + v, 0);
    const predictedAs = confusion.reduce((s, row) => s + (row[c] as number), 0);
    const precision = predictedAs === 0 ? 0 : tp / predictedAs;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label, precision, recall, f1, support };
  });
  return {
    labels: all,
    examples: truth.length,
    accuracy: truth.length === 0 ? 0 : correct / truth.length,
    macroF1: perClass.length === 0 ? 0 : perClass.reduce((s, c) => s + c.f1, 0) / perClass.length,
    perClass,
    confusion,
  };
}

/** F1 of one class of a report (0 when the class is absent). */
export function f1Of(report: ClassificationReport, label: string): number {
  return report.perClass.find((c) => c.label === label)?.f1 ?? 0;
}

/** The report as aligned plain text: accuracy, a per-class table and the confusion matrix. */
export function formatReport(report: ClassificationReport): string {
  const pct = (x: number) => (x * 100).toFixed(2).padStart(6);
  const width = Math.max(9, ...report.labels.map((l) => l.length)) + 2;
  const lines = [
    `examples ${report.examples}   accuracy ${(report.accuracy * 100).toFixed(2)} %   macro F1 ${(report.macroF1 * 100).toFixed(2)} %`,
    '',
    `${'class'.padEnd(width)} precision  recall      F1  support`,
    ...report.perClass.map(
      (c) =>
        `${c.label.padEnd(width)}    ${pct(c.precision)}  ${pct(c.recall)}  ${pct(c.f1)}  ${String(c.support).padStart(7)}`,
    ),
    '',
    `confusion (rows: true, columns: predicted)`,
    `${''.padEnd(width)}${report.labels.map((l) => l.padStart(width)).join('')}`,
    ...report.labels.map(
      (l, i) =>
        `${l.padEnd(width)}${(report.confusion[i] ?? []).map((v) => String(v).padStart(width)).join('')}`,
    ),
  ];
  return lines.join('\n');
}
