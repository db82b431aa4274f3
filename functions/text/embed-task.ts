import { InvalidInputError } from '../core/errors.ts';
import { TASK_DESCRIPTORS } from '../core/tasks/descriptors.ts';
import { defineTask, type TaskDefinition } from '../core/tasks/types.ts';
import { Stopwatch } from '../core/timings.ts';
import { TextEmbedder } from './embedder.ts';
import { readTextRequestInSlices, type TextLimits, textLimitsFromEnv } from './text-request.ts';

/**
 * The `text/embed` task with the given limits; {@link textEmbedTask} reads them from the environment
 * (`TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS`, `TEXT_MAX_FILE_TEXTS`) when it loads.
 */
export function createTextEmbedTask(limits?: TextLimits): TaskDefinition {
  return defineTask(TASK_DESCRIPTORS['text/embed'], async (loaded) => {
    const embedder = await TextEmbedder.create(loaded);
    const effective = limits ?? textLimitsFromEnv();
    return {
      async run(input) {
        const stopwatch = new Stopwatch();
        const request = await stopwatch.time('decode', () => readTextRequestInSlices(input, effective));
        if (request.explainTokens > 0) {
          throw new InvalidInputError('text/embed has no "explain"; leave it out');
        }
        const vectors = await embedder.embed(request.texts, { stopwatch });
        const { lines } = request;
        return {
          result: {
            embeddings: vectors.map((v) => Array.from(v)),
            dimensions: vectors[0]?.length ?? 0,
            ...(lines ? { lines } : {}),
          },
          timings: stopwatch.read(),
          items: vectors.length,
        };
      },
    };
  });
}

/**
 * `text/embed`: texts in (`{"texts": [...]}`, `{"text": ...}`, `text/plain`, NDJSON, or an uploaded `.txt`
 * or `.jsonl`), one vector per text out (`embeddings`, `dimensions`), on an imported encoder.
 */
export const textEmbedTask: TaskDefinition = createTextEmbedTask();
