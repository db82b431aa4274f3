/**
 * The burst block (`figures:load-burst`), from the `burst` of `bench/results/load.json` as `npm run
 * bench:load` writes it: issue 12's 200 OCR requests at once against a server whose inference threads run
 * at `INFERENCE_NICE=10` and one whose threads are left as they are (0), alternating. Per mode, the median
 * over its bursts of each figure, with the range over the bursts. Pure.
 */
import type { BenchResults } from './bench-results.ts';
import { markdownTable } from './figure-blocks.ts';
import { fixed, load, range, times, when } from './format.ts';

type Burst = BenchResults['load']['burst'];
type Figure =
  | 'served'
  | 'slowestServedMs'
  | 'refused'
  | 'refusalMedianMs'
  | 'refusalSlowestMs'
  | 'controlMedianMs'
  | 'controlSlowestMs'
  | 'probeSlowestMs';

/** The issue's bound on a refusal. */
const REFUSAL_BOUND_MS = 250;

/** "176 (160–192)": the median over the bursts, then their range where there were several. */
function cell(burst: Burst, nice: number, figure: Figure, scale = 1, digits = 0): string {
  const mode = burst.modes.find((m) => m.inferenceNice === nice);
  const values = burst.runs.filter((run) => run.inferenceNice === nice).map((run) => run[figure] / scale);
  const median = fixed((mode?.medians[figure] ?? Number.NaN) / scale, digits);
  return values.length > 1 ? `${median} (${range(values, (v) => fixed(v, digits))})` : median;
}

/** One row per `INFERENCE_NICE`, then how the burst was made and how often the slowest refusal met 250 ms. */
export function loadBurst(r: BenchResults): string {
  const b = r.load.burst;
  const rows = b.modes.map((mode) => {
    const nice = mode.inferenceNice;
    return [
      nice === 0 ? '`0` (off)' : `\`${nice}\``,
      String(mode.bursts),
      cell(b, nice, 'served'),
      cell(b, nice, 'slowestServedMs', 1000, 1),
      cell(b, nice, 'refused'),
      cell(b, nice, 'refusalMedianMs'),
      cell(b, nice, 'refusalSlowestMs'),
      cell(b, nice, 'controlMedianMs'),
      cell(b, nice, 'controlSlowestMs'),
      cell(b, nice, 'probeSlowestMs'),
    ];
  });
  const within = b.modes.map((mode) => {
    const runs = b.runs.filter((run) => run.inferenceNice === mode.inferenceNice);
    const met = runs.filter((run) => run.refusalSlowestMs <= REFUSAL_BOUND_MS).length;
    return `${met} of ${runs.length} at \`INFERENCE_NICE=${mode.inferenceNice}\``;
  });
  const [lowered, off] = [
    b.modes.find((m) => m.inferenceNice > 0),
    b.modes.find((m) => m.inferenceNice === 0),
  ];
  const ratio =
    lowered && off
      ? ` The median of the slowest refusal at \`${lowered.inferenceNice}\` is ${times(lowered.medians.refusalSlowestMs / off.medians.refusalSlowestMs)} that at \`0\`, of the median refusal ${times(lowered.medians.refusalMedianMs / off.medians.refusalMedianMs)}.`
      : '';
  const others = b.runs.reduce((sum, run) => sum + run.otherStatuses.length, 0);
  return [
    markdownTable(
      [
        '`INFERENCE_NICE`',
        'bursts',
        'served',
        'slowest served, s',
        'refused (503)',
        'refusal median, ms',
        'slowest refusal, ms',
        'work-free median, ms',
        'work-free slowest, ms',
        'slowest health probe, ms',
      ],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
    `\`npm run bench:load\`, \`bench/results/load.json\` of ${when(r.load)}, its burst phase: ${b.atOnce} \`${b.task}\` requests at once with work-free requests among them (the same body to a route the server does not have), at \`ADMISSION_CONCURRENCY=${b.admission.concurrency}\` and \`ADMISSION_MAX_WAIT_MS=${b.admission.maxWaitMs}\`, alternating between the two servers after 4 single requests each; ${load(b.loadAverageBefore[0] as number, b.loadAverageAfter[0] as number)} on the ${r.load.cores ?? 2} cores. Each cell is the median over the bursts, their range in brackets; the work-free figures are of those sent after the first refusal. ${others === 0 ? 'No other status came back.' : `${others} answers had another status.`} The slowest refusal was within ${REFUSAL_BOUND_MS} ms in ${within.join(' and ')}.${ratio}`,
  ].join('\n');
}
