/**
 * The shapes of the results files the docs' figures come from: `bench/results/<name>.json`, written by the
 * benches, and `scripts/quantize/ocr-variants.json`, written by `npm run quantize -- --write`. Only the
 * fields the docs read are declared (others pass through), so a bench that stops writing one fails here,
 * naming the file and the field, instead of rendering `undefined`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** When and under what load a bench ran: a top-level `date`, or a `machine` block that holds one. */
const provenance = {
  date: z.string().optional(),
  machine: z.object({ date: z.string().optional() }).loose().optional(),
};

const ocrRow = z.object({
  image: z.string(),
  small: z.boolean(),
  floorP50: z.number(),
  lambdaP50: z.number(),
  lambdaAccuracy: z.number(),
  rawP50: z.number(),
  httpP50: z.number(),
  gutenP50: z.number(),
  accuracy: z.number(),
  gutenAccuracy: z.number(),
});

export const ocrResults = z
  .object({
    ...provenance,
    runs: z.number(),
    rows: z.array(ocrRow).min(1),
    summary: z
      .object({
        pipelineP50: z.number(),
        endpointP50: z.number(),
        gutenP50: z.number(),
        endpointOverPipeline: z.number(),
        speedupVsGutenPerImageMedian: z.number(),
        accuracy: z.number(),
        gutenAccuracy: z.number(),
        lambdaAccuracy: z.number(),
        loadAverage: z.object({ before: z.number(), after: z.number() }),
      })
      .loose(),
    cold: z.object({ ours: z.number(), lambdaTier: z.number(), floor: z.number() }).loose(),
    rss: z
      .object({
        loaded: z.object({ rssMiB: z.number() }).loose(),
        afterServing: z.object({ peakMiB: z.number() }).loose(),
      })
      .loose(),
  })
  .loose();

export const speechResults = z
  .object({
    ...provenance,
    runs: z.number(),
    loadAverage: z.object({ before: z.number(), after: z.number() }),
    rows: z
      .array(
        z
          .object({
            contender: z.string(),
            'RTF median': z.number(),
            'RTF min': z.number(),
            'RTF max': z.number(),
            sentences: z.string(),
            'extra segments': z.union([z.number(), z.literal('')]),
          })
          .loose(),
      )
      .min(1),
    ratios: z
      .object({
        fp32SingleOverRicky: z.number(),
        fp32SingleOverAvrV5: z.number(),
        fp32SingleOverSessionRunFloor: z.number(),
        fp32BatchOverSessionRunFloor: z.number(),
      })
      .loose(),
    long: z.array(
      z
        .object({
          variant: z.string(),
          duration: z.number(),
          rtf: z.number(),
          loaded: z.object({ rssMiB: z.number() }).loose(),
          done: z.object({ peakMiB: z.number() }).loose(),
        })
        .loose(),
    ),
  })
  .loose();

export const textResults = z
  .object({
    ...provenance,
    runs: z.number(),
    rows: z
      .array(
        z
          .object({
            name: z.string(),
            trainedOn: z.number(),
            accuracy: z.number(),
            spamF1: z.number(),
            bytes: z.number().optional(),
            batchMs: z.number().optional(),
            singleMs: z.number().nullable().optional(),
          })
          .loose(),
      )
      .min(1),
    ratios: z.array(
      z.object({ versus: z.string(), ours: z.string(), batch64: z.number(), single: z.number() }).loose(),
    ),
  })
  .loose();

/** Figures of one burst, or their medians over the bursts of one mode (`bench/load.ts`'s burst phase). */
const burstFigures = z
  .object({
    served: z.number(),
    slowestServedMs: z.number(),
    refused: z.number(),
    refusalMedianMs: z.number(),
    refusalSlowestMs: z.number(),
    controlMedianMs: z.number(),
    controlSlowestMs: z.number(),
    probeSlowestMs: z.number(),
  })
  .loose();

/** `npm run bench:load`'s burst phase: 200 OCR requests at once, per `INFERENCE_NICE`. */
const loadBurst = z
  .object({
    task: z.string(),
    atOnce: z.number(),
    admission: z.object({ concurrency: z.number(), maxWaitMs: z.number() }),
    loadAverageBefore: z.array(z.number()),
    loadAverageAfter: z.array(z.number()),
    modes: z.array(z.object({ inferenceNice: z.number(), bursts: z.number(), medians: burstFigures })).min(1),
    runs: z
      .array(
        burstFigures.extend({
          inferenceNice: z.number(),
          run: z.number(),
          otherStatuses: z.array(z.number()),
        }),
      )
      .min(1),
  })
  .loose();

export const loadResults = z
  .object({
    burst: loadBurst,
    ...provenance,
    cores: z.number().optional(),
    loadAverageBefore: z.array(z.number()).optional(),
    loadAverageAfter: z.array(z.number()).optional(),
    secondsPerLevel: z.number(),
    results: z
      .array(
        z
          .object({
            task: z.string(),
            batching: z.enum(['on', 'off']),
            clients: z.number(),
            shed: z.number(),
            requestsPerSecond: z.number(),
            p50Ms: z.number(),
            p95Ms: z.number(),
            p99Ms: z.number(),
          })
          .loose(),
      )
      .min(1),
  })
  .loose();

export const soakResults = z
  .object({
    ...provenance,
    requests: z.number(),
    completed: z.number(),
    concurrency: z.number(),
    requestsPerSecond: z.number(),
    statuses: z.record(z.string(), z.number()),
    unexpected: z.number(),
    latencyMs: z.record(z.string(), z.object({ p50: z.number(), p99: z.number() })),
    rss: z
      .object({
        afterWarmupMiB: z.number(),
        endMiB: z.number(),
        peakMiB: z.number(),
        slopeBytesPer1000Requests: z.number(),
      })
      .loose(),
  })
  .loose();

export const uploadsResults = z
  .object({
    ...provenance,
    loadAverage: z.object({ before: z.number(), after: z.number() }).optional(),
    single: z.object({ uploads: z.number(), medianMs: z.number(), p90Ms: z.number() }),
    burst: z.object({
      uploads: z.number(),
      results: z.number(),
      allMs: z.number(),
      processedTwice: z.number(),
      errors: z.number(),
      peakRssMiB: z.number(),
    }),
  })
  .loose();

const confusionRow = z.object({ ham: z.number(), spam: z.number() });

export const textEvalResults = z
  .object({
    ...provenance,
    evaluations: z
      .array(
        z
          .object({
            data: z.string(),
            model: z.string(),
            variant: z.string(),
            examples: z.number(),
            accuracy: z.number(),
            confusion: z.object({ ham: confusionRow, spam: confusionRow }),
            threshold: z.number().optional(),
            ece: z.number().optional(),
          })
          .loose(),
      )
      .min(1),
  })
  .loose();

const quantizeMeasure = z.object({
  method: z.string(),
  bytes: z.number(),
  sizeRatio: z.number(),
  cpuMs: z.number(),
  accuracy: z.number(),
});

export const quantizeResults = z.record(
  z.string(),
  z.object({ lambda: z.string(), measured: z.array(quantizeMeasure).min(1) }).loose(),
);

/** Every results file the figures read, parsed. */
export interface BenchResults {
  readonly ocr: z.infer<typeof ocrResults>;
  readonly speech: z.infer<typeof speechResults>;
  readonly text: z.infer<typeof textResults>;
  readonly textEval: z.infer<typeof textEvalResults>;
  readonly load: z.infer<typeof loadResults>;
  readonly soak: z.infer<typeof soakResults>;
  readonly uploads: z.infer<typeof uploadsResults>;
  readonly quantize: z.infer<typeof quantizeResults>;
}

/** Where each results file lives, relative to the repository, and the command that writes it. */
export const RESULT_FILES = {
  ocr: { path: 'bench/results/ocr.json', command: 'npm run bench', schema: ocrResults },
  speech: { path: 'bench/results/speech.json', command: 'npm run bench:speech', schema: speechResults },
  text: { path: 'bench/results/text.json', command: 'npm run bench:text', schema: textResults },
  textEval: {
    path: 'bench/results/text-eval.json',
    command: 'npm run eval -- --variant fp32,int8 --save',
    schema: textEvalResults,
  },
  load: { path: 'bench/results/load.json', command: 'npm run bench:load', schema: loadResults },
  soak: { path: 'bench/results/soak.json', command: 'npm run soak', schema: soakResults },
  uploads: { path: 'bench/results/uploads.json', command: 'npm run bench:uploads', schema: uploadsResults },
  quantize: {
    path: 'scripts/quantize/ocr-variants.json',
    command: 'npm run quantize -- --write',
    schema: quantizeResults,
  },
} as const;

/**
 * Reads and validates every results file under `root`.
 *
 * @throws Error naming the file, the command that writes it and what did not parse.
 */
export async function readBenchResults(root: string): Promise<BenchResults> {
  const entries = await Promise.all(
    Object.entries(RESULT_FILES).map(async ([name, file]) => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(join(root, file.path), 'utf8'));
      } catch (error) {
        throw new Error(`${file.path} cannot be read (${(error as Error).message}); run ${file.command}`);
      }
      const parsed = file.schema.safeParse(json);
      if (!parsed.success)
        throw new Error(`${file.path} is not what the docs read: ${z.prettifyError(parsed.error)}`);
      return [name, parsed.data] as const;
    }),
  );
  return Object.fromEntries(entries) as unknown as BenchResults;
}
