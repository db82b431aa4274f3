/** Per task, a small live chart of p50 and p95 latency from the server's own recent requests. */
import { callApi } from './api.ts';
import { el, ms, svg } from './dom.ts';

interface LatencyPoint {
  readonly at: number;
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
}

interface TaskStats {
  readonly count: number;
  readonly errors: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly series: readonly LatencyPoint[];
}

const WIDTH = 300;
const HEIGHT = 100;

/** The chart of one task's stats, as a captioned SVG. */
function chart(task: string, stats: TaskStats | undefined): HTMLElement {
  const figure = el('figure', { class: 'chart', 'data-task': task });
  const caption =
    !stats || stats.p50 === null
      ? `Latency of ${task}: no requests yet`
      : `Latency of ${task}, last ${stats.count} requests: p50 ${ms(stats.p50)}, p95 ${ms(stats.p95 ?? 0)}` +
        (stats.errors ? `, ${stats.errors} errors` : '');
  const picture = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': caption });
  const series = stats?.series ?? [];
  if (series.length > 0) {
    const first = series[0]?.at ?? 0;
    const span = Math.max(1, (series.at(-1)?.at ?? first) - first);
    const top = Math.max(1, ...series.map((p) => p.p95)) * 1.15;
    const left = 44;
    const x = (p: LatencyPoint) =>
      series.length === 1 ? (WIDTH + left) / 2 : ((p.at - first) / span) * (WIDTH - left - 8) + left;
    const y = (v: number) => HEIGHT - 14 - (v / top) * (HEIGHT - 22);
    // The scale: 0 and the top, and the two lines named where they start.
    for (const value of [0, top]) {
      const label = svg('text', { x: left - 4, y: y(value) + 3, class: 'axis', 'text-anchor': 'end' });
      label.textContent = ms(value);
      picture.append(label, svg('line', { x1: left, x2: WIDTH, y1: y(value), y2: y(value), class: 'grid' }));
    }
    for (const key of ['p95', 'p50'] as const) {
      const points = series.map((p) => `${x(p).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
      picture.append(svg('polyline', { points, class: `line ${key}` }));
      for (const p of series)
        picture.append(svg('circle', { cx: x(p), cy: y(p[key]), r: 2.5, class: `dot ${key}` }));
    }
    const legend = svg('text', { x: left, y: HEIGHT - 2, class: 'axis' });
    for (const [text, cls] of [
      ['● p50 ', 'p50'],
      ['● p95 ', 'p95'],
      ['per 10 s, last 5 min', 'axis'],
    ] as const) {
      const span = svg('tspan', { class: cls });
      span.textContent = text;
      legend.append(span);
    }
    picture.append(legend);
  }
  figure.append(picture, el('figcaption', {}, caption));
  return figure;
}

/** Keeps the latency charts of every section current: polled, and refreshed after each answer. */
export function setUpLatency(): () => void {
  const sections = [...document.querySelectorAll<HTMLElement>('section[data-task]')];
  const refresh = async () => {
    const reply = await callApi<{ tasks: Record<string, TaskStats> }>('/v1/stats');
    if (!reply.ok) return;
    for (const section of sections) {
      const task = section.dataset.task ?? '';
      section.querySelector('.latency')?.replaceChildren(chart(task, reply.body.tasks[task]));
    }
  };
  void refresh();
  setInterval(() => void refresh(), 5000);
  return () => void refresh();
}
