/**
 * The JSON shapes of the HTTP API, as zod schemas: the request bodies (those that validate requests) and the
 * answers. `openapi.ts` turns them into `GET /openapi.json`, so the description and the validation are one
 * thing. This module imports only zod: any door, and every Lambda bundle, may carry it.
 */
import { z } from 'zod';
import { TensorDatatype } from '../model-store/manifest.ts';

/** What a schema registry entry carries into the OpenAPI components: its name and description. */
export interface SchemaMeta {
  readonly id: string;
  readonly description?: string;
}

/** Request bodies: rendered as their input form (what a client may send). */
export const requestSchemas = z.registry<SchemaMeta>();
/** Answers: rendered as their output form (what a client receives). */
export const responseSchemas = z.registry<SchemaMeta>();

/** Every error answer: a message for a person, never internals (paths, SDK or onnxruntime texts). */
export const ErrorBody = z.object({ error: z.string() });
responseSchemas.add(ErrorBody, {
  id: 'Error',
  description: 'Every 4xx and 5xx answer, worded for a person.',
});

/** Wall-clock time per stage of one answer, in ms. */
export const StageTimings = z.object({
  decode: z.number(),
  preprocess: z.number(),
  inference: z.number(),
  postprocess: z.number(),
  total: z.number(),
});
responseSchemas.add(StageTimings, {
  id: 'StageTimings',
  description: 'Milliseconds per stage of one answer.',
});

const base64 = z.string().min(1).describe('The file, base64 (standard or URL-safe), or as a data: URL');

// ---- image/ocr ----------------------------------------------------------------------------------------

/** `POST /v1/image/ocr` with `application/json`: the image as base64. */
export const OcrJsonRequest = z.object({ image: base64 });
requestSchemas.add(OcrJsonRequest, { id: 'OcrJsonRequest' });

const Point = z.tuple([z.number(), z.number()]).describe('[x, y] in pixels of the image as sent');

/** One line of text the OCR found. */
export const OcrLine = z.object({
  text: z.string(),
  confidence: z.number().min(0).max(1),
  box: z
    .tuple([Point, Point, Point, Point])
    .describe('Corners: top-left, top-right, bottom-right, bottom-left'),
});
responseSchemas.add(OcrLine, { id: 'OcrLine' });

/** The answer of `POST /v1/image/ocr`. */
export const OcrResult = z.object({
  model: z.string().describe('name@version'),
  width: z.number().int(),
  height: z.number().int(),
  lines: z.array(OcrLine).describe('In reading order'),
  text: z.string().describe('The lines joined by newlines'),
  timings: StageTimings,
});
responseSchemas.add(OcrResult, { id: 'OcrResult' });

// ---- text/classify ------------------------------------------------------------------------------------

/** Most tokens one explanation lists (`explain` as a number). */
export const MAX_EXPLAIN_TOKENS = 1000;

const explain = z
  .union([z.boolean(), z.number().int().min(0).max(MAX_EXPLAIN_TOKENS)])
  .optional()
  .describe('true (10 tokens) or the number of tokens to explain each label by');

/**
 * `POST /v1/text/classify` with `application/json`: one `text` or a `texts` array, not both. Limits
 * (`TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS`) are settings, checked by the task with a 413.
 */
export const TextClassifyJsonRequest = z.union([
  // `never` for the other field: a body with both is refused, as the parser refuses it.
  z.object({ text: z.string(), texts: z.never().optional(), explain }),
  z.object({ texts: z.array(z.string()).min(1), text: z.never().optional(), explain }),
]);
requestSchemas.add(TextClassifyJsonRequest, { id: 'TextClassifyJsonRequest' });

/** One token's share in the decision; positive pushes towards the label. */
export const TokenContribution = z.object({ token: z.string(), contribution: z.number() });
responseSchemas.add(TokenContribution, { id: 'TokenContribution' });

/** Why a text got its label: `bias + Σ contributions + rest = logitDifference`. */
export const Explanation = z.object({
  against: z.string().describe('The runner-up label'),
  logitDifference: z.number(),
  bias: z.number(),
  tokens: z.array(TokenContribution),
  rest: z.number().describe('Sum of the contributions of the tokens not listed'),
});
responseSchemas.add(Explanation, { id: 'Explanation' });

/** The classification of one text. */
export const TextClassification = z.object({
  label: z
    .string()
    .describe(
      "The decision: the manifest's thresholded label when its score reaches the threshold, else the most probable",
    ),
  score: z.number().min(0).max(1),
  scores: z.record(z.string(), z.number()),
  explanation: Explanation.optional(),
  labels: z
    .array(z.string())
    .optional()
    .describe('Multi-label models: every label whose score reaches the threshold'),
  line: z.number().int().optional().describe('For NDJSON input: the 1-based line'),
  id: z.union([z.string(), z.number()]).optional().describe("For NDJSON input: the line's id"),
});
responseSchemas.add(TextClassification, { id: 'TextClassification' });

/** The answer of `POST /v1/text/classify`: one result per text, in order. */
export const TextClassifyResult = z.object({
  model: z.string(),
  results: z.array(TextClassification),
  timings: StageTimings,
});
responseSchemas.add(TextClassifyResult, { id: 'TextClassifyResult' });

// ---- text/embed ---------------------------------------------------------------------------------------

/** `POST /v1/text/embed` with `application/json`: one `text` or a `texts` array, not both. */
export const TextEmbedJsonRequest = z.union([
  z.object({ text: z.string(), texts: z.never().optional() }),
  z.object({ texts: z.array(z.string()).min(1), text: z.never().optional() }),
]);
requestSchemas.add(TextEmbedJsonRequest, { id: 'TextEmbedJsonRequest' });

/** The answer of `POST /v1/text/embed`: one vector per text, in order, pooled as the model's manifest says. */
export const TextEmbedResult = z.object({
  model: z.string(),
  embeddings: z.array(z.array(z.number())),
  dimensions: z.number().int().min(0),
  lines: z
    .array(z.object({ line: z.number().int(), id: z.union([z.string(), z.number()]).optional() }))
    .optional()
    .describe('For NDJSON input: the line (and id) of each vector'),
  timings: StageTimings,
});
responseSchemas.add(TextEmbedResult, { id: 'TextEmbedResult' });

// ---- speech/vad ---------------------------------------------------------------------------------------

const vadOptionShape = {
  threshold: z.number().gt(0).lt(1).describe('Speech probability that starts a segment (0.5)'),
  negThreshold: z.number().gt(0).lt(1).describe('Probability under which speech ends (threshold − 0.15)'),
  minSpeechDurationMs: z.number().min(0).max(60_000),
  minSilenceDurationMs: z.number().min(0).max(60_000),
  speechPadMs: z.number().min(0).max(10_000),
  maxSpeechDurationS: z.number().gt(1),
};

/**
 * The segmentation options a JSON body may carry beside `"audio"`, each optional. Refinements that
 * compare options with their defaults (negThreshold ≤ threshold) are the task's to add.
 */
export const VadOptions = z.strictObject(vadOptionShape).partial();

/** `POST /v1/speech/vad` with `application/json`: the audio as base64, and options. */
export const VadJsonRequest = z.strictObject({ audio: base64, ...vadOptionShape }).partial({
  threshold: true,
  negThreshold: true,
  minSpeechDurationMs: true,
  minSilenceDurationMs: true,
  speechPadMs: true,
  maxSpeechDurationS: true,
});
requestSchemas.add(VadJsonRequest, { id: 'VadJsonRequest' });

/** One stretch of speech, in seconds from the start. */
export const SpeechSegment = z.object({
  start: z.number(),
  end: z.number(),
  confidence: z.number().min(0).max(1),
});
responseSchemas.add(SpeechSegment, { id: 'SpeechSegment' });

/** The answer of `POST /v1/speech/vad`. */
export const VadResult = z.object({
  model: z.string(),
  duration: z.number().describe('Seconds'),
  sampleRate: z.number().int().describe('Rate the model ran at'),
  segments: z.array(SpeechSegment),
  speechRatio: z.number().min(0).max(1),
  timings: StageTimings,
});
responseSchemas.add(VadResult, { id: 'VadResult' });

// ---- the local server's page --------------------------------------------------------------------------

const LatencyPoint = z.object({ at: z.number(), count: z.number().int(), p50: z.number(), p95: z.number() });

/** `GET /v1/stats`: recent latencies of each served task, from this process's own requests. */
export const StatsResult = z.object({
  tasks: z.record(
    z.string(),
    z.object({
      count: z.number().int(),
      errors: z.number().int(),
      p50: z.number().nullable(),
      p95: z.number().nullable(),
      series: z.array(LatencyPoint).describe('p50 and p95 per 10-second bucket, oldest first'),
    }),
  ),
});
responseSchemas.add(StatsResult, { id: 'StatsResult' });

/** One object under `incoming/` of the embedded uploads bucket and what became of it. */
export const UploadEntry = z.object({
  key: z.string(),
  size: z.number().int(),
  lastModified: z.string().nullable(),
  state: z.enum(['pending', 'done', 'failed']),
  resultKey: z.string().optional(),
  errorKey: z.string().optional(),
  error: z.string().optional().describe('The upload error, as the error record words it'),
});
responseSchemas.add(UploadEntry, { id: 'UploadEntry' });

/** `GET /v1/uploads`. */
export const UploadsResult = z.object({ bucket: z.string(), uploads: z.array(UploadEntry) });
responseSchemas.add(UploadsResult, { id: 'UploadsResult' });

// ---- Open Inference Protocol v2 -----------------------------------------------------------------------

const TensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()) });

/** `GET /v2`. */
export const OipServerMetadata = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});
responseSchemas.add(OipServerMetadata, { id: 'OipServerMetadata' });

/** `GET /v2/models/{name}`. */
export const OipModelMetadata = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(TensorMetadata),
  outputs: z.array(TensorMetadata),
  /** Inferlet's extension: the loaded session's execution provider, what was asked, and why they differ. */
  execution_provider: z
    .object({
      requested: z.enum(['cpu', 'webgpu', 'cuda', 'auto']),
      provider: z.enum(['cpu', 'webgpu', 'cuda']),
      unavailable: z.record(z.string(), z.string()).optional(),
      timingsMs: z.record(z.string(), z.number()).optional(),
      warmedShapes: z.number().int(),
    })
    .optional(),
});
responseSchemas.add(OipModelMetadata, { id: 'OipModelMetadata' });

/** `GET /v2/health/ready` and `/live`. */
export const OipHealth = z.object({
  ready: z.boolean().optional(),
  live: z.boolean().optional(),
  error: z.string().optional(),
});
responseSchemas.add(OipHealth, { id: 'OipHealth' });

/** `GET /v2/models/{name}/ready`. */
export const OipModelReady = z.object({ name: z.string(), version: z.string(), ready: z.boolean() });
responseSchemas.add(OipModelReady, { id: 'OipModelReady' });

const Tensor = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  datatype: TensorDatatype,
  data: z.array(z.unknown()).describe('Row-major, flat or nested'),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

/** `POST /v2/models/{name}/infer`. */
export const OipInferRequest = z.object({
  id: z.string().optional(),
  inputs: z.array(Tensor).min(1),
  outputs: z.array(z.object({ name: z.string() })).optional(),
});
requestSchemas.add(OipInferRequest, { id: 'OipInferRequest' });

/** The answer of `POST /v2/models/{name}/infer`. */
export const OipInferResponse = z.object({
  model_name: z.string(),
  model_version: z.string(),
  id: z.string().optional(),
  outputs: z.array(Tensor),
});
responseSchemas.add(OipInferResponse, { id: 'OipInferResponse' });

/** `POST /v2/repository/index`. */
export const OipRepositoryIndex = z.array(
  z.object({ name: z.string(), version: z.string(), state: z.string().optional() }).loose(),
);
responseSchemas.add(OipRepositoryIndex, { id: 'OipRepositoryIndex' });
