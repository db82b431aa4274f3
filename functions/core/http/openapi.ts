/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated from the zod schemas of
 * `api-schemas.ts` (the request schemas are those that validate requests) and from the task registry's
 * routes and media types, so that a new task or field shows up without editing a document by hand.
 */
import { z } from 'zod';
import type { TaskDefinition } from '../tasks/types.ts';
import { requestSchemas, responseSchemas } from './api-schemas.ts';

/** A JSON object of the OpenAPI document. */
type Json = Record<string, unknown>;

/** What the document needs to know of a task: the registry's definition. */
export type DescribedTask = Pick<TaskDefinition, 'name' | 'modality' | 'route' | 'mediaTypes'>;

/** Options of {@link openApiDocument}. */
export interface OpenApiOptions {
  /** The served tasks, each described at its route. */
  readonly tasks: readonly DescribedTask[];
  /** Also the local server's page routes: `/`, `/docs`, `/openapi.json`, `/v1/stats`, `/v1/uploads`. */
  readonly page?: boolean;
  /** `info.version`. */
  readonly version?: string;
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** The components of a registry as JSON Schema 2020-12 (OpenAPI 3.1's dialect), without `$schema`/`$id`. */
function componentsOf(registry: typeof requestSchemas, io: 'input' | 'output'): Record<string, Json> {
  const { schemas } = z.toJSONSchema(registry, {
    io,
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema as Json;
    out[id] = rest;
  }
  return out;
}

/** A WAV of `samples` silent 16-bit mono samples at `rate`: a small example that the VAD accepts. */
function silentWav(samples: number, rate: number): string {
  const data = samples * 2;
  const wav = Buffer.alloc(44 + data);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + data, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(data, 40);
  return wav.toString('base64');
}

/** An 8×8 white PNG. */
const WHITE_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAD0lEQVQImWP4jwMwDC0JALoev0GybL49AAAAAElFTkSuQmCC';

const TIMINGS = { decode: 1.2, preprocess: 3.4, inference: 41.9, postprocess: 2.1, total: 49.1 };

/** Per task: the JSON request and answer schemas, and examples of each. */
const TASK_DOCS: Readonly<
  Record<string, { summary: string; request: string; result: string; examples: Json }>
> = {
  'image/ocr': {
    summary: 'Read the lines of text in an image',
    request: 'OcrJsonRequest',
    result: 'OcrResult',
    examples: {
      request: { image: `data:image/png;base64,${WHITE_PNG}` },
      result: {
        model: 'ppocr-v4@1',
        width: 640,
        height: 200,
        lines: [
          {
            text: 'invoice number 4821',
            confidence: 0.98,
            box: [
              [22, 30],
              [331, 30],
              [331, 68],
              [22, 68],
            ],
          },
        ],
        text: 'invoice number 4821',
        timings: TIMINGS,
      },
    },
  },
  'text/classify': {
    summary: 'Classify texts (spam or ham), optionally explained token by token',
    request: 'TextClassifyJsonRequest',
    result: 'TextClassifyResult',
    examples: {
      request: { text: 'WIN a FREE cruise! Reply now to claim your prize', explain: 5 },
      result: {
        model: 'spam-fasttext@1',
        results: [
          {
            label: 'spam',
            score: 0.97,
            scores: { ham: 0.03, spam: 0.97 },
            explanation: {
              against: 'ham',
              logitDifference: 3.48,
              bias: -0.41,
              tokens: [
                { token: 'free', contribution: 1.62 },
                { token: 'prize', contribution: 1.1 },
              ],
              rest: 1.17,
            },
          },
        ],
        timings: TIMINGS,
      },
    },
  },
  'text/embed': {
    summary: 'Embed texts as vectors with an imported encoder (mean pooling and L2 norm by default)',
    request: 'TextEmbedJsonRequest',
    result: 'TextEmbedResult',
    examples: {
      request: { texts: ['The invoice is attached.', 'Lunch on Friday?'] },
      result: {
        model: 'text-embedding@1',
        embeddings: [
          [0.12, -0.48, 0.87],
          [0.66, 0.31, -0.68],
        ],
        dimensions: 3,
        timings: TIMINGS,
      },
    },
  },
  'speech/vad': {
    summary: 'Find the stretches of speech in a recording',
    request: 'VadJsonRequest',
    result: 'VadResult',
    examples: {
      request: { audio: silentWav(800, 8000), threshold: 0.5 },
      result: {
        model: 'silero-vad@1',
        duration: 12.4,
        sampleRate: 16000,
        segments: [{ start: 0.42, end: 3.1, confidence: 0.93 }],
        speechRatio: 0.216,
        timings: TIMINGS,
      },
    },
  },
};

/** The error answers, with a typical message each. */
const ERRORS: Readonly<Record<string, { description: string; example: string }>> = {
  '400': { description: 'The request is malformed', example: 'request body is not valid JSON' },
  '404': { description: 'No such route, model or version', example: 'model "ppocr-v5" not found' },
  '413': {
    description: 'The body, or what it asks for, is over a limit',
    example: 'request body is larger than the limit of 6291456 bytes',
  },
  '415': {
    description: 'The media type (or a Content-Encoding) is not accepted',
    example: 'unsupported media type image/gif; send image/png, image/jpeg, image/webp, application/json',
  },
  '422': {
    description: 'The body is well-formed for its type but does not decode',
    example: 'the image is truncated',
  },
  '500': { description: 'An internal error (logged; the answer says no more)', example: 'internal error' },
  '503': {
    description: 'The models are loading, or failed to load',
    example: 'model ppocr-v4@1 is not ready',
  },
};

/** References to the shared error answers of `statuses`. */
const errors = (...statuses: string[]): Json =>
  Object.fromEntries(statuses.map((s) => [s, { $ref: `#/components/responses/Error${s}` }]));

const jsonOk = (schema: Json, description: string, example?: unknown): Json => ({
  description,
  content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } },
});

/** The raw-body media types of a task: binary files, or text for `text/*` and NDJSON. */
function rawContent(mediaType: string): Json {
  if (mediaType === 'text/plain')
    return { schema: { type: 'string' }, example: 'Lunch at noon on Thursday?' };
  if (mediaType === 'application/x-ndjson') {
    return {
      schema: { type: 'string', description: 'One JSON string or {"text", "id"} object per line' },
      example: '{"id": 1, "text": "Lunch at noon?"}\n{"id": 2, "text": "WIN a FREE cruise"}\n',
    };
  }
  return { schema: { type: 'string', format: 'binary', contentMediaType: mediaType } };
}

function taskPath(task: DescribedTask): Json {
  const doc = TASK_DOCS[task.name];
  const content: Json = {};
  for (const mediaType of task.mediaTypes) content[mediaType] = rawContent(mediaType);
  if (doc) content['application/json'] = { schema: ref(doc.request), example: doc.examples.request };
  return {
    post: {
      operationId: task.name.replace(/\/(.)/g, (_, c: string) => c.toUpperCase()),
      tags: [task.modality],
      summary: doc?.summary ?? task.name,
      description:
        `Task \`${task.name}\`. The body is the file itself (its Content-Type one of ` +
        `${task.mediaTypes.join(', ')}), or JSON. A body with a Content-Encoding is refused (415).`,
      requestBody: { required: true, content },
      responses: {
        '200': jsonOk(doc ? ref(doc.result) : { type: 'object' }, 'The answer', doc?.examples.result),
        ...errors('400', '413', '415', '422', '500', '503'),
      },
    },
  };
}

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  example: 'silero-vad',
};
const versionParam = {
  name: 'version',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  example: '1',
};

/** The OIP v2 routes, for a model name and optionally a version. */
function oipPaths(): Record<string, Json> {
  const paths: Record<string, Json> = {
    '/v2': { get: op('oipServerMetadata', 'Server metadata', jsonOk(ref('OipServerMetadata'), 'Metadata')) },
    '/v2/health/live': { get: op('oipLive', 'Liveness', jsonOk(ref('OipHealth'), 'Live', { live: true })) },
    '/v2/health/ready': {
      get: op('oipReady', 'Readiness: every served model loaded', jsonOk(ref('OipHealth'), 'Ready'), {
        '503': jsonOk(ref('OipHealth'), 'Not ready yet', { ready: false, error: 'models are loading' }),
      }),
    },
    '/v2/repository/index': {
      post: op(
        'oipRepositoryIndex',
        'The models of the repository',
        jsonOk(ref('OipRepositoryIndex'), 'Index'),
      ),
    },
  };
  for (const [suffix, params, id] of [
    ['', [nameParam], ''],
    ['/versions/{version}', [nameParam, versionParam], 'Version'],
  ] as const) {
    const base = `/v2/models/{name}${suffix}`;
    paths[base] = {
      get: {
        ...op(
          `oipModelMetadata${id}`,
          'Model metadata',
          jsonOk(ref('OipModelMetadata'), 'Metadata'),
          errors('404'),
        ),
        parameters: params,
      },
    };
    paths[`${base}/ready`] = {
      get: {
        ...op(`oipModelReady${id}`, 'Model readiness', jsonOk(ref('OipModelReady'), 'Ready'), {
          ...errors('404'),
          '503': jsonOk(ref('OipModelReady'), 'Not ready'),
        }),
        parameters: params,
      },
    };
    paths[`${base}/infer`] = {
      post: {
        ...op(
          `oipInfer${id}`,
          'Tensor inference on one model',
          jsonOk(ref('OipInferResponse'), 'The outputs'),
          errors('400', '404', '413', '415', '500', '503'),
        ),
        parameters: params,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('OipInferRequest'),
              example: {
                inputs: [
                  { name: 'input', shape: [1, 576], datatype: 'FP32', data: new Array(576).fill(0) },
                  { name: 'state', shape: [2, 1, 128], datatype: 'FP32', data: new Array(256).fill(0) },
                  { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
                ],
              },
            },
          },
        },
      },
    };
  }
  return paths;
}

function op(operationId: string, summary: string, ok: Json, more: Json = {}): Json {
  return { operationId, tags: ['oip'], summary, responses: { '200': ok, ...more } };
}

function pagePaths(): Record<string, Json> {
  const html = (description: string): Json => ({
    description,
    content: { 'text/html': { schema: { type: 'string' } } },
  });
  const page = (operationId: string, summary: string, ok: Json, more: Json = {}): Json => ({
    get: { operationId, tags: ['page'], summary, responses: { '200': ok, ...more } },
  });
  const fileParam = { name: 'file', in: 'path', required: true, schema: { type: 'string' } };
  const asset = (operationId: string, summary: string): Json => ({
    get: {
      operationId,
      tags: ['page'],
      summary,
      parameters: [fileParam],
      responses: { '200': { description: 'The file' }, ...errors('404') },
    },
  });
  return {
    '/': page('page', 'The page to try every task', html('The page')),
    '/assets/{file}': asset('pageAsset', "The page's script and style"),
    '/docs': page('docs', 'This description, rendered', html('The rendered description')),
    '/docs/{file}': asset('docsAsset', "The renderer's script and style"),
    '/openapi.json': page('openApi', 'This description', {
      description: 'OpenAPI 3.1',
      content: { 'application/json': {} },
    }),
    '/v1/stats': page(
      'stats',
      "p50 and p95 latency of each served task's recent requests, in this process",
      jsonOk(ref('StatsResult'), 'Per task'),
    ),
    '/v1/uploads': page(
      'uploads',
      "The embedded uploads bucket's incoming/ objects and their result or error",
      jsonOk(ref('UploadsResult'), 'Newest first'),
      errors('404', '503'),
    ),
  };
}

/**
 * The OpenAPI 3.1 document of the served routes.
 *
 * @example
 * ```ts
 * app.get('/openapi.json', (c) => c.json(openApiDocument({ tasks: service.tasks().map((t) => t.definition) })));
 * ```
 */
export function openApiDocument(options: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const task of options.tasks) paths[task.route] = taskPath(task);
  Object.assign(paths, oipPaths());
  if (options.page) Object.assign(paths, pagePaths());
  const responses = Object.fromEntries(
    Object.entries(ERRORS).map(([status, e]) => [
      `Error${status}`,
      jsonOk(ref('Error'), e.description, { error: e.example }),
    ]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Inferlet',
      version: options.version ?? '0.1.0',
      description:
        'Serverless ONNX inference: OCR, text classification and voice activity detection, behind the ' +
        'same HTTP interface on Lambda, in a GPU container and on `npm start`. Every error answer is ' +
        '`{"error": "..."}`. A client that closes the connection before its answer is logged as 499; it ' +
        'receives nothing.',
    },
    tags: [
      { name: 'image', description: 'OCR' },
      { name: 'text', description: 'Text classification' },
      { name: 'speech', description: 'Voice activity detection' },
      { name: 'oip', description: 'Open Inference Protocol v2 (REST)' },
      ...(options.page ? [{ name: 'page', description: "The local server's page and its routes" }] : []),
    ],
    paths,
    components: {
      schemas: { ...componentsOf(requestSchemas, 'input'), ...componentsOf(responseSchemas, 'output') },
      responses,
    },
  };
}
