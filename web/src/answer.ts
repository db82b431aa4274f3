/** Below each task: the stage timings of the answer, and its JSON one click away. */
import type { StageTimings } from './api.ts';
import { el, ms } from './dom.ts';

const STAGES = ['decode', 'preprocess', 'inference', 'postprocess'] as const;

/** Renders the timings as a stacked bar with a legend, and the JSON in a disclosure. */
export function showAnswer(target: HTMLElement, answer: { timings?: StageTimings } & object): void {
  target.replaceChildren();
  const { timings } = answer;
  if (timings) {
    const bar = el('div', { class: 'stages', role: 'img', 'aria-label': 'Stage timings' });
    const legend = el('ul', { class: 'stage-legend', 'aria-label': 'Stage timings' });
    const sum = STAGES.reduce((total, stage) => total + timings[stage], 0) || 1;
    for (const stage of STAGES) {
      const share = (timings[stage] / sum) * 100;
      bar.append(
        el('span', {
          class: `stage ${stage}`,
          style: `width:${share}%`,
          title: `${stage} ${ms(timings[stage])}`,
        }),
      );
      legend.append(el('li', { class: stage }, `${stage} ${ms(timings[stage])}`));
    }
    legend.append(el('li', { class: 'total' }, `total ${ms(timings.total)}`));
    target.append(el('h3', {}, 'Timings'), bar, legend);
  }
  const details = el('details', { class: 'json' }, el('summary', {}, 'JSON'));
  details.append(el('pre', {}, JSON.stringify(answer, null, 2)));
  target.append(details);
}
