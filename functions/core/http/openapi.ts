/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated from the zod schemas of
 * `api-schemas.ts` (the request schemas are those that validate requests) and from the task registry's
 * routes and media types, so that a new task or field shows up without editing a document by hand.
 */
import { z } from 'zod';
import type { TaskDefinition } from '../tasks/types.ts';
import { requestSchemas, responseSchemas } from './api-schemas.ts';
import { ERROR_DOCS, TASK_DOCS } from './openapi-examples.ts';

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
    Object.entries(ERROR_DOCS).map(([status, e]) => [
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
