/**
 * The cost chart of a plan: monthly cost against requests per second for both tiers, log scales on both
 * axes, as a standalone SVG written by hand (no charting dependency).
 */

/** One point of each tier's curve. */
export interface CostPoint {
  readonly rps: number;
  readonly lambda: number;
  readonly gpu: number;
  /** Whether a Lambda memory size meets the p95 at this rate (the Lambda curve is dashed where not). */
  readonly lambdaMeetsP95: boolean;
}

/** What the chart shows besides the curves. */
export interface ChartOptions {
  readonly title: string;
  /** The planned rate, marked with a vertical line. */
  readonly plannedRps?: number;
  readonly breakEvenRps?: number;
  /** A line under the chart naming the sources. */
  readonly footnote?: string;
}

const WIDTH = 760;
const HEIGHT = 470;
const MARGIN = { left: 78, right: 24, top: 44, bottom: 100 };

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Powers of ten from the one at or below `low` to the one at or above `high`. */
function decades(low: number, high: number): number[] {
  const out: number[] = [];
  // The epsilon keeps 1000 from reading as a little over 10^3 and adding a decade.
  for (let e = Math.floor(Math.log10(low) + 1e-9); e <= Math.ceil(Math.log10(high) - 1e-9); e++)
    out.push(10 ** e);
  return out;
}

const money = (v: number) =>
  v >= 1000 ? `$${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : `$${v.toFixed(v < 10 ? 1 : 0)}`;
const rate = (v: number) => (v >= 1 ? String(v) : v.toFixed(Math.max(0, -Math.floor(Math.log10(v)))));

/**
 * Renders the curves to SVG text.
 *
 * @example
 * ```ts
 * writeFileSync('docs/plan-image-ocr.svg', costChart(points, { title: 'image/ocr', plannedRps: 20 }));
 * ```
 */
export function costChart(points: readonly CostPoint[], options: ChartOptions): string {
  if (points.length < 2) throw new Error('a cost chart needs at least two rates');
  const xs = points.map((p) => p.rps);
  const ys = points.flatMap((p) => [p.lambda, p.gpu]).filter((v) => v > 0);
  const xTicks = decades(Math.min(...xs), Math.max(...xs));
  const yTicks = decades(Math.min(...ys), Math.max(...ys));
  const [x0, x1] = [Math.log10(xTicks[0] as number), Math.log10(xTicks.at(-1) as number)];
  const [y0, y1] = [Math.log10(yTicks[0] as number), Math.log10(yTicks.at(-1) as number)];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + ((Math.log10(v) - x0) / (x1 - x0)) * plotW;
  const y = (v: number) =>
    MARGIN.top + plotH - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / (y1 - y0)) * plotH;
  const f = (v: number) => v.toFixed(1);
  const path = (values: readonly [number, number][]) =>
    values.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${f(x(px))},${f(y(py))}`).join(' ');

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img">`,
    // Read out by screen readers in place of the drawing.
    `<title>${escapeXml(`${options.title}: monthly cost of the Lambda tier and the GPU service against requests per second`)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  for (const t of xTicks) {
    parts.push(
      `<line x1="${f(x(t))}" y1="${MARGIN.top}" x2="${f(x(t))}" y2="${MARGIN.top + plotH}" stroke="#e4e4e4"/>`,
      `<text x="${f(x(t))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${rate(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    parts.push(
      `<line x1="${MARGIN.left}" y1="${f(y(t))}" x2="${MARGIN.left + plotW}" y2="${f(y(t))}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 8}" y="${f(y(t) + 4)}" text-anchor="end">${money(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 40}" text-anchor="middle">requests per second (log scale)</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">monthly cost, USD (log scale)</text>`,
  );
  // The Lambda curve solid where a memory size meets the p95, dashed where none does.
  const runs: { meets: boolean; points: [number, number][] }[] = [];
  for (const p of points) {
    const last = runs.at(-1);
    const point: [number, number] = [p.rps, p.lambda];
    if (last && last.meets === p.lambdaMeetsP95) last.points.push(point);
    else
      runs.push({
        meets: p.lambdaMeetsP95,
        points: last ? [last.points.at(-1) as [number, number], point] : [point],
      });
  }
  for (const run of runs)
    parts.push(
      `<path d="${path(run.points)}" fill="none" stroke="#e07b00" stroke-width="2.5"${run.meets ? '' : ' stroke-dasharray="6 5"'}/>`,
    );
  parts.push(
    `<path d="${path(points.map((p) => [p.rps, p.gpu]))}" fill="none" stroke="#2b6cb0" stroke-width="2.5"/>`,
  );
  const marker = (at: number, label: string, colour: string, dy: number) =>
    parts.push(
      `<line x1="${f(x(at))}" y1="${MARGIN.top}" x2="${f(x(at))}" y2="${MARGIN.top + plotH}" stroke="${colour}" stroke-dasharray="3 3"/>`,
      `<text x="${f(x(at) + 4)}" y="${MARGIN.top + dy}" fill="${colour}">${escapeXml(label)}</text>`,
    );
  if (options.breakEvenRps)
    marker(options.breakEvenRps, `break-even ${options.breakEvenRps.toFixed(1)}/s`, '#555', 14);
  if (options.plannedRps) marker(options.plannedRps, `planned ${options.plannedRps}/s`, '#c53030', 30);
  const legendY = HEIGHT - 16;
  parts.push(
    `<line x1="${MARGIN.left}" y1="${legendY - 4}" x2="${MARGIN.left + 26}" y2="${legendY - 4}" stroke="#e07b00" stroke-width="2.5"/>`,
    `<text x="${MARGIN.left + 32}" y="${legendY}">Lambda (cheapest memory meeting the p95; dashed: none)</text>`,
    `<line x1="${MARGIN.left + 470}" y1="${legendY - 4}" x2="${MARGIN.left + 496}" y2="${legendY - 4}" stroke="#2b6cb0" stroke-width="2.5"/>`,
    `<text x="${MARGIN.left + 502}" y="${legendY}">GPU service</text>`,
  );
  if (options.footnote)
    parts.push(
      `<text x="${MARGIN.left}" y="${HEIGHT - 34}" font-size="10" fill="#555">${escapeXml(options.footnote)}</text>`,
    );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
