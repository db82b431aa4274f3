import { TASK_DESCRIPTORS } from '../core/tasks/descriptors.ts';
import { defineTask, type TaskDefinition } from '../core/tasks/types.ts';
import { Stopwatch } from '../core/timings.ts';
import { readTextRequestInSlices, type TextLimits, textLimitsFromEnv } from './text-request.ts';
import { createTextClassifier } from './transformer-classifier.ts';

/**
 * The `text/classify` task with the given limits; {@link textClassifyTask} reads them from the environment
 * (`TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS`, `TEXT_MAX_FILE_TEXTS`) when it loads.
 */
export function createTextClassifyTask(limits?: TextLimits): TaskDefinition {
  return defineTask(TASK_DESCRIPTORS['text/classify'], async (loaded) => {
    // The fastText model Inferlet ships, or an imported Hugging Face classifier, by its manifest.
    const classifier = await createTextClassifier(loaded);
    const effective = limits ?? textLimitsFromEnv();
    return {
      async run(input) {
        const stopwatch = new Stopwatch();
        const request = await stopwatch.time('decode', () => readTextRequestInSlices(input, effective));
        const results = await classifier.classify(request.texts, {
          explainTokens: request.explainTokens,
          stopwatch,
        });
        const { lines } = request;
        return {
          result: { results: lines ? results.map((r, i) => ({ ...lines[i], ...r })) : results },
          timings: stopwatch.read(),
          items: results.length,
        };
      },
    };
  });
}

/**
 * `text/classify`: texts in (`{"text": ...}`, `{"texts": [...]}`, `text/plain`, or an uploaded `.txt` or
 * `.jsonl`), a label with probabilities per text out, optionally explained, on a fastText-style model.
 */
export const textClassifyTask: TaskDefinition = createTextClassifyTask();
