import { modelRefOf, type TaskDefinition } from '../core/tasks/types.ts';
import { Stopwatch } from '../core/timings.ts';
import {
  readTextRequestInSlices,
  TEXT_MEDIA_TYPES,
  type TextLimits,
  textLimitsFromEnv,
} from './text-request.ts';
import { createTextClassifier } from './transformer-classifier.ts';

/**
 * The `text/classify` task with the given limits; {@link textClassifyTask} reads them from the environment
 * (`TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS`, `TEXT_MAX_FILE_TEXTS`) when it loads.
 */
export function createTextClassifyTask(limits?: TextLimits): TaskDefinition {
  return {
    name: 'text/classify',
    modality: 'text',
    route: '/v1/text/classify',
    defaultModel: 'spam-fasttext',
    mediaTypes: TEXT_MEDIA_TYPES,
    async load(store, wanted) {
      const loaded = await store.load(wanted.name, wanted.version);
      // The fastText model Inferlet ships, or an imported Hugging Face classifier, by its manifest.
      const classifier = await createTextClassifier(loaded);
      const model = modelRefOf(loaded);
      const effective = limits ?? textLimitsFromEnv();
      return {
        model,
        loaded: [model],
        runner: {
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
        },
      };
    },
  };
}

/**
 * `text/classify`: texts in (`{"text": ...}`, `{"texts": [...]}`, `text/plain`, or an uploaded `.txt` or
 * `.jsonl`), a label with probabilities per text out, optionally explained, on a fastText-style model.
 */
export const textClassifyTask: TaskDefinition = createTextClassifyTask();
