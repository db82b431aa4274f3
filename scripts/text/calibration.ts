/**
 * Decision thresholds and calibration of a binary classifier's scores: the threshold that flags at most a
 * given share of negatives, the expected calibration error and a reliability diagram as SVG.
 */

/** A scored example: the model's probability of the positive label and whether it is positive. */
export interface ScoredExample {
  readonly score: number;
  readonly positive: boolean;
}

/**
 * The lowest threshold (at least `floor`) at which at most `rate` of the negatives score `>= threshold`:
 * the decision rule `score >= threshold` then flags at most that share of them. Ties at the cut are all
 * kept below the threshold, so the rate is never exceeded on these scores.
 *
 * @example
 * ```ts
 * thresholdForFalsePositiveRate([0.1, 0.2, 0.9], 0, 0.5); // just above 0.9
 * ```
 */
export function thresholdForFalsePositiveRate(
  negativeScores: readonly number[],
  rate: number,
  floor = 0.5,
): number {
  const sorted = [...negativeScores].sort((a, b) => b - a);
  const allowed = Math.floor(rate * sorted.length + 1e-9);
  if (allowed >= sorted.length) return floor;
  const cut = sorted[allowed] as number;
  // The next float64 above the cut would do on these scores; a small margin keeps float32 scores of the
  // served graph (which may round up) on the same side.
  const above = Math.min(1, cut + Math.max(1e-6, (1 - cut) * 1e-3));
  return Math.max(floor, above);
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  /** Mean predicted probability of the positive label in the bin. */
  readonly meanScore: number;
  /** Share of positives in the bin. */
  readonly positiveRate: number;
}

/** Calibration of positive-label probabilities: equal-width bins and their expected calibration error. */
export interface Calibration {
  readonly bins: readonly ReliabilityBin[];
  /** Σ (bin count / n) · |mean score − positive rate|: 0 for perfectly calibrated scores. */
  readonly ece: number;
}

/** Reliability bins and the expected calibration error of scores, `bins` equal-width bins over [0, 1]. */
export function calibration(examples: readonly ScoredExample[], bins = 10): Calibration {
  const sums = Array.from({ length: bins }, () => ({ count: 0, score: 0, positives: 0 }));
  for (const { score, positive } of examples) {
    const bin = sums[Math.min(bins - 1, Math.max(0, Math.floor(score * bins)))] as (typeof sums)[number];
    bin.count++;
    bin.score += score;
    if (positive) bin.positives++;
  }
  let ece = 0;
  const out = sums.map((s, i) => {
    const meanScore = s.count ? s.score / s.count : 0;
    const positiveRate = s.count ? s.positives / s.count : 0;
    if (examples.length) ece += (s.count / examples.length) * Math.abs(meanScore - positiveRate);
    return { from: i / bins, to: (i + 1) / bins, count: s.count, meanScore, positiveRate };
  });
  return { bins: out, ece };
}

const escapeXml = (s: string) =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);

/**
 * A reliability diagram as a standalone SVG: per set of examples, the positive rate of each bin against
 * its mean score (dots sized by the bin's count, joined by a line), the diagonal of perfect calibration,
 * and the ECE in the legend.
 */
export function reliabilitySvg(
  series: readonly { readonly name: string; readonly calibration: Calibration }[],
  title: string,
): string {
  const size = 360;
  const pad = 48;
  const x = (v: number) => pad + v * size;
  const y = (v: number) => pad + (1 - v) * size;
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 2 * pad + 200}" height="${size + 2 * pad}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(`${title}: observed rate of the positive class against predicted probability`)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${pad}" y="${pad / 2}" font-size="14">${escapeXml(title)}</text>`,
    `<rect x="${pad}" y="${pad}" width="${size}" height="${size}" fill="none" stroke="#333"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
  ];
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    parts.push(
      `<text x="${x(v)}" y="${y(0) + 16}" text-anchor="middle">${v.toFixed(1)}</text>`,
      `<text x="${x(0) - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`,
    );
  }
  parts.push(
    `<text x="${x(0.5)}" y="${y(0) + 34}" text-anchor="middle">mean predicted probability of the positive label</text>`,
    `<text transform="translate(${pad - 34} ${y(0.5)}) rotate(-90)" text-anchor="middle">share positive</text>`,
  );
  for (const [i, s] of series.entries()) {
    const colour = colours[i % colours.length] as string;
    const filled = s.calibration.bins.filter((b) => b.count > 0);
    const total = filled.reduce((sum, b) => sum + b.count, 0) || 1;
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${filled.map((b) => `${x(b.meanScore).toFixed(1)},${y(b.positiveRate).toFixed(1)}`).join(' ')}"/>`,
      ...filled.map(
        (b) =>
          `<circle cx="${x(b.meanScore).toFixed(1)}" cy="${y(b.positiveRate).toFixed(1)}" r="${(2 + 10 * Math.sqrt(b.count / total)).toFixed(1)}" fill="${colour}" fill-opacity="0.5"><title>${b.from.toFixed(1)}–${b.to.toFixed(1)}: ${b.count} examples</title></circle>`,
      ),
      `<rect x="${x(1) + 16}" y="${pad + i * 20}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${x(1) + 34}" y="${pad + i * 20 + 10}">${escapeXml(s.name)} (ECE ${s.calibration.ece.toFixed(3)})</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
