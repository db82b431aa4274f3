/**
 * The spam classifier's evaluation block (`figures:text-eval`), from `bench/results/text-eval.json` as
 * `npm run eval -- --variant fp32,int8 --save` writes it: accuracy on SpamAssassin's test split, ham flagged and
 * spam caught on the modern-mail test half, and the calibration error of each, per variant. Pure.
 */
import type { BenchResults } from './bench-results.ts';
import { markdownTable } from './figure-blocks.ts';
import { fixed, when } from './format.ts';

type Evaluation = BenchResults['textEval']['evaluations'][number];

const SPAM_ASSASSIN = 'spam-assassin';
const MODERN = 'modern-mail:test';

/** "1 of 48 (2.1 %)": how many of a class's messages were labelled `as`. */
function share(e: Evaluation, of: 'ham' | 'spam', as: 'ham' | 'spam'): string {
  const row = e.confusion[of];
  const total = row.ham + row.spam;
  return `${row[as]} of ${total} (${fixed((100 * row[as]) / total, 1)} %)`;
}

/** One row per model variant evaluated on both sets. */
export function textEval(r: BenchResults): string {
  const { evaluations } = r.textEval;
  const on = (data: string, model: string, variant: string) => {
    const found = evaluations.find((e) => e.data === data && e.model === model && e.variant === variant);
    if (!found)
      throw new Error(`bench/results/text-eval.json has no ${data} evaluation of ${model} ${variant}`);
    return found;
  };
  const variants = [...new Set(evaluations.map((e) => `${e.model} ${e.variant}`))];
  const rows = variants.map((key) => {
    const [model, variant] = key.split(' ') as [string, string];
    const sa = on(SPAM_ASSASSIN, model, variant);
    const modern = on(MODERN, model, variant);
    const ece = (e: Evaluation) => (e.ece === undefined ? '–' : fixed(e.ece, 3));
    return [
      `\`${model}\` ${variant}, threshold ${sa.threshold ?? 0.5}`,
      `${fixed(sa.accuracy * 100, 2)} % of ${sa.examples}`,
      share(modern, 'ham', 'spam'),
      share(modern, 'spam', 'spam'),
      `${ece(sa)} / ${ece(modern)}`,
    ];
  });
  return [
    markdownTable(
      [
        'model, variant',
        'SpamAssassin test: accuracy',
        'modern-mail test: ham flagged',
        'spam caught',
        'ECE, SpamAssassin / modern',
      ],
      rows,
    ),
    '',
    `From \`bench/results/text-eval.json\` (\`npm run eval -- --variant fp32,int8 --save\`, ${when(r.textEval)}).`,
  ].join('\n');
}
