/**
 * The names and dimension sets of Inferlet's EMF metrics, shared by the code that emits them
 * (`functions/core/metrics.ts`) and the CDK code that graphs and alarms on them
 * (`infra/constructs/monitoring/emf-metrics.ts` and the GPU service's scaling), so an alarm cannot name a
 * metric or a dimension that is never emitted (`test/infra/monitoring-metrics.test.ts` checks it against
 * captured EMF).
 *
 * No imports: the CDK app and every Lambda bundle load this file (`config/env.ts` takes the default
 * namespace from it), and it must not pull in Powertools or onnxruntime.
 */

/**
 * The CloudWatch namespace of the EMF metrics unless `POWERTOOLS_METRICS_NAMESPACE` says otherwise: the
 * functions' default and the namespace the stack deploys them with and alarms on.
 */
export const DEFAULT_METRICS_NAMESPACE = 'Inferlet';

/** Metric names of one inference (a request that reached the model and succeeded). */
export const INFERENCE_METRICS = Object.freeze({
  latency: 'Latency',
  decodeLatency: 'DecodeLatency',
  preprocessLatency: 'PreprocessLatency',
  inferenceLatency: 'InferenceLatency',
  postprocessLatency: 'PostprocessLatency',
  inferences: 'Inferences',
  items: 'Items',
  payloadSize: 'PayloadSize',
  cpuTime: 'CpuTime',
  memoryRss: 'MemoryRss',
  coldStart: 'ColdStart',
  modelLoadTime: 'ModelLoadTime',
} as const);
export type InferenceMetricName = (typeof INFERENCE_METRICS)[keyof typeof INFERENCE_METRICS];

/** The per-stage latencies among {@link INFERENCE_METRICS}, in the order a request passes them. */
export const STAGE_LATENCY_METRICS = Object.freeze([
  INFERENCE_METRICS.decodeLatency,
  INFERENCE_METRICS.preprocessLatency,
  INFERENCE_METRICS.inferenceLatency,
  INFERENCE_METRICS.postprocessLatency,
] as const);

/**
 * Metric names of one request's outcome, emitted for every inference request and upload, failed or not.
 *
 * - `Requests`: 1 per request, under both {@link REQUEST_DIMENSIONS} and {@link OUTCOME_DIMENSIONS}.
 * - `Errors`: 1 per request answered 4xx or 5xx (absent on success), under the same two sets.
 * - `RequestLatency`: milliseconds from the request's arrival to its answer (or to its failure).
 *
 * An error rate is `Errors{statusClass=5xx} / Requests{no statusClass}` over one period.
 */
export const OUTCOME_METRICS = Object.freeze({
  requests: 'Requests',
  errors: 'Errors',
  requestLatency: 'RequestLatency',
} as const);

/**
 * Metric names of admission control (`functions/core/admission.ts`), per task on a long-running server:
 *
 * - `QueueDepth`: requests waiting in the task's queue when one arrives (one value per arrival).
 * - `QueueWait`: milliseconds an accepted request waited before its run started.
 * - `Shed`: 1 per request refused with 503 because its expected wait exceeded `ADMISSION_MAX_WAIT_MS`.
 *
 * The GPU service scales on `QueueWait` (`infra/constructs/gpu/scaling.ts`).
 */
export const ADMISSION_METRICS = Object.freeze({
  queueDepth: 'QueueDepth',
  queueWait: 'QueueWait',
  shed: 'Shed',
} as const);
export type AdmissionMetricName = (typeof ADMISSION_METRICS)[keyof typeof ADMISSION_METRICS];

/** The dimension names. `service` is Powertools' default dimension: `POWERTOOLS_SERVICE_NAME`, one per tier. */
export const DIMENSIONS = Object.freeze({
  service: 'service',
  task: 'task',
  model: 'model',
  variant: 'variant',
  source: 'source',
  statusClass: 'statusClass',
  provider: 'provider',
} as const);

/** Dimension set of the inference metrics: which tier ran which model for which task. */
export const INFERENCE_DIMENSIONS = Object.freeze([
  DIMENSIONS.service,
  DIMENSIONS.task,
  DIMENSIONS.model,
  DIMENSIONS.variant,
] as const);

/**
 * Dimension set of every outcome record: all requests of a task on a tier and door. The model is left out
 * on purpose: a request can fail before any model is known (unknown route, body too large, model that does
 * not load), and an alarm must name every dimension of the metric it reads.
 */
export const REQUEST_DIMENSIONS = Object.freeze([
  DIMENSIONS.service,
  DIMENSIONS.task,
  DIMENSIONS.source,
] as const);

/** Dimension set of the admission metrics: a task's queue on one tier. */
export const ADMISSION_DIMENSIONS = Object.freeze([DIMENSIONS.service, DIMENSIONS.task] as const);

/**
 * Dimension set of the inference metrics by execution provider: which provider (`cpu`, `webgpu`, `cuda`;
 * `cpu+webgpu` when a task's models run on several) served a task on a tier. Written beside
 * {@link INFERENCE_DIMENSIONS} when the provider is known, so the same metrics compare providers.
 */
export const PROVIDER_DIMENSIONS = Object.freeze([
  DIMENSIONS.service,
  DIMENSIONS.task,
  DIMENSIONS.provider,
] as const);

/** The values of one inference's dimensions ({@link INFERENCE_DIMENSIONS}), by dimension name. */
export type InferenceDimensionValues = Readonly<Record<(typeof INFERENCE_DIMENSIONS)[number], string>>;

/** The same, split by the class of the answer's status: {@link STATUS_CLASSES}. */
export const OUTCOME_DIMENSIONS = Object.freeze([...REQUEST_DIMENSIONS, DIMENSIONS.statusClass] as const);

/** How a request arrived: over HTTP (`POST /v1/...`, OIP infer) or as an uploaded file. */
export const SOURCES = Object.freeze({ http: 'http', upload: 'upload' } as const);
export type RequestSource = (typeof SOURCES)[keyof typeof SOURCES];

/** Values of the `statusClass` dimension: a fixed, small set. */
export const STATUS_CLASSES = Object.freeze(['2xx', '3xx', '4xx', '5xx'] as const);
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** The status classes that count in `Errors`: a request answered with one of them failed. */
export const ERROR_STATUS_CLASSES = Object.freeze(['4xx', '5xx'] as const satisfies readonly StatusClass[]);

/** Whether a request answered with `statusClass` counts in `Errors`. */
export function isErrorClass(statusClass: StatusClass): boolean {
  return (ERROR_STATUS_CLASSES as readonly StatusClass[]).includes(statusClass);
}

/** The `task` of a request that names no served task (an unknown route, an unknown OIP model). */
export const NO_TASK = 'none';

/** The class of an HTTP status: `422` -> `4xx`. Anything outside 200..599 counts as a server fault. */
export function statusClassOf(status: number): StatusClass {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  return '5xx';
}
