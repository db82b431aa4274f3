import { InvalidInputError } from '../core/errors.ts';
import { modelRefOf, type TaskDefinition } from '../core/tasks/types.ts';
import { Stopwatch } from '../core/timings.ts';
import { TextEmbedder } from './embedder.ts';
import {
  readTextRequestInSlices,
  TEXT_MEDIA_TYPES,
  type TextLimits,
  textLimitsFromEnv,
} from './text-request.ts';

/**
 * The segment of the uploads bucket whose files `text/embed` processes: `incoming/text-embed/<name>`
 * (`incoming/text/` stays `text/classify`'s; S3 refuses notifications whose prefixes overlap, so the embed
 * task cannot live under `incoming/text/embed/`).
 */
export const TEXT_EMBED_UPLOAD_SEGMENT = 'text-embed';

/**
 * The `text/embed` task with the given limits; {@link textEmbedTask} reads them from the environment
 * (`TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS`, `TEXT_MAX_FILE_TEXTS`) when it loads.
 */
export function createTextEmbedTask(limits?: TextLimits): TaskDefinition {
  return {
    name: 'text/embed',
    modality: 'text',
    route: '/v1/text/embed',
    // Inferlet ships no embedding model: a deployment imports one (`npm run models:import`) under this
    // name, or names its own with MODEL_TEXT_EMBED.
    defaultModel: 'text-embedding',
    uploadSegment: TEXT_EMBED_UPLOAD_SEGMENT,
    mediaTypes: TEXT_MEDIA_TYPES,
    async load(store, wanted) {
      const loaded = await store.load(wanted.name, wanted.version);
      const embedder = await TextEmbedder.create(loaded);
      const model = modelRefOf(loaded);
      const effective = limits ?? textLimitsFromEnv();
      return {
        model,
        loaded: [model],
        runner: {
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
        },
      };
    },
  };
}

/**
 * `text/embed`: texts in (`{"texts": [...]}`, `{"text": ...}`, `text/plain`, NDJSON, or an uploaded `.txt`
 * or `.jsonl`), one vector per text out (`embeddings`, `dimensions`), on an imported encoder.
 */
export const textEmbedTask: TaskDefinition = createTextEmbedTask();
