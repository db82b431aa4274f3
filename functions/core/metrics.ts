import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AdmissionEvent } from './admission.ts';
import { loadSettings } from './config/env.ts';
import {
  ADMISSION_METRICS,
  DIMENSIONS,
  isErrorClass,
  INFERENCE_METRICS as M,
  OUTCOME_METRICS,
  type RequestSource,
  statusClassOf,
} from './metric-names.ts';
import type { StageTimings } from './timings.ts';

/** What one inference reports to CloudWatch. */
export interface InferenceRecord {
  readonly task: string;
  /** `<name>@<version>` */
  readonly model: string;
  readonly variant: string;
  readonly timings: StageTimings;
  /** Size of the request body in bytes. */
  readonly payloadBytes: number;
  /** Items processed in this call (images, texts, files) for throughput. */
  readonly items: number;
  /** CPU time (user + system) the process spent during the call, in ms. */
  readonly cpuMs: number;
  /** Whether this was the first inference of the process. */
  readonly coldStart: boolean;
  /** Time spent loading models for this call (cold start only), in ms. */
  readonly modelLoadMs?: number;
  /** How the call arrived: `http`, `upload`, ... */
  readonly source: string;
  /**
   * The execution providers of the task's models (`cpu`, `webgpu`, `cuda`; several joined by `+`, e.g.
   * `cpu+webgpu` for an ensemble split between them): a dimension of its own set, `{service, task,
   * provider}`, so that the alarms' sets stay as they are.
   */
  readonly provider?: string;
}

/**
 * The status an outcome records for a request whose client closed the connection before its answer (while
 * its body was read, or while it ran): nginx's "client closed request". A 4xx, so it is counted in `Errors`
 * of class 4xx, which no alarm reads, and never as a 5xx; the log says it at info level.
 */
export const CLIENT_CLOSED_REQUEST = 499;

/** The outcome of one request or upload, successful or not. */
export interface RequestOutcome {
  /** The served task (`image/ocr`), or `NO_TASK` when the request named none. */
  readonly task: string;
  readonly source: RequestSource;
  /**
   * The HTTP status answered ({@link CLIENT_CLOSED_REQUEST} when the client left first); for an upload, the
   * status of its error, or 200 when processed.
   */
  readonly status: number;
  /** Milliseconds from arrival to the answer (or the failure). */
  readonly latencyMs: number;
}

/**
 * Emits one CloudWatch Embedded Metric Format record per inference, and one per request outcome, through
 * Powertools Metrics. Names and dimension sets come from `metric-names.ts`, which the alarms read too.
 *
 * Powertools writes EMF to stdout, which Lambda turns into metrics and which a CloudWatch agent (or a log
 * router) does on ECS, so one library serves both tiers. Each kind of record has one `Metrics` of its own,
 * filled and published in one synchronous call, so concurrent requests in a long-running server never share
 * a buffer, and no record pays for a new `Metrics` (and the `Console` it makes): measured 0.9 ms of a
 * refused request's 1.2 ms of server CPU. `POWERTOOLS_METRICS_DISABLED=true` silences it.
 */
export class InferenceMetrics {
  private readonly inferences: Metrics;
  private readonly outcomes: Metrics;
  private readonly admissions: Metrics;

  constructor(
    namespace = loadSettings().POWERTOOLS_METRICS_NAMESPACE,
    private readonly service = loadSettings().POWERTOOLS_SERVICE_NAME,
  ) {
    const emitter = () => new Metrics({ namespace, serviceName: service });
    this.inferences = emitter();
    this.outcomes = emitter();
    this.admissions = emitter();
  }

  /**
   * Publishes the metrics of one inference under `{service, task, model, variant}` and, when the record
   * names its provider, under `{service, task, provider}` too.
   */
  record(r: InferenceRecord): void {
    // The task as a default dimension is part of every set; naming it in two sets would make Powertools warn.
    const metrics = this.withDefaults(this.inferences, { [DIMENSIONS.task]: r.task });
    metrics.addDimensions({ [DIMENSIONS.model]: r.model, [DIMENSIONS.variant]: r.variant });
    if (r.provider) metrics.addDimensions({ [DIMENSIONS.provider]: r.provider });
    metrics.addMetric(M.latency, MetricUnit.Milliseconds, r.timings.total);
    metrics.addMetric(M.decodeLatency, MetricUnit.Milliseconds, r.timings.decode);
    metrics.addMetric(M.preprocessLatency, MetricUnit.Milliseconds, r.timings.preprocess);
    metrics.addMetric(M.inferenceLatency, MetricUnit.Milliseconds, r.timings.inference);
    metrics.addMetric(M.postprocessLatency, MetricUnit.Milliseconds, r.timings.postprocess);
    metrics.addMetric(M.inferences, MetricUnit.Count, 1);
    metrics.addMetric(M.items, MetricUnit.Count, r.items);
    metrics.addMetric(M.payloadSize, MetricUnit.Bytes, r.payloadBytes);
    metrics.addMetric(M.cpuTime, MetricUnit.Milliseconds, r.cpuMs);
    metrics.addMetric(M.memoryRss, MetricUnit.Bytes, process.memoryUsage.rss());
    metrics.addMetric(M.coldStart, MetricUnit.Count, r.coldStart ? 1 : 0);
    if (r.modelLoadMs !== undefined)
      metrics.addMetric(M.modelLoadTime, MetricUnit.Milliseconds, r.modelLoadMs);
    metrics.addMetadata('source', r.source);
    metrics.publishStoredMetrics();
  }

  /**
   * Publishes the outcome of one request or upload: `Requests` 1, `RequestLatency`, and `Errors` 1 when the
   * status is 4xx or 5xx, under two dimension sets, `{service, task, source}` (all requests, the rate's
   * denominator) and `{service, task, source, statusClass}` (what an alarm on 5xx reads). Nothing of the
   * request itself is emitted: no payload, path, message or model.
   *
   * @example
   * ```ts
   * metrics.recordOutcome({ task: 'image/ocr', source: 'http', status: 422, latencyMs: 12 });
   * ```
   */
  recordOutcome(r: RequestOutcome): void {
    // Task and source as default dimensions are part of every set: the regular dimensions add statusClass
    // (OUTCOME_DIMENSIONS) and an empty extra set stands for the defaults alone (REQUEST_DIMENSIONS). Two
    // sets naming task twice would make Powertools warn on every record.
    const metrics = this.withDefaults(this.outcomes, {
      [DIMENSIONS.task]: r.task,
      [DIMENSIONS.source]: r.source,
    });
    const statusClass = statusClassOf(r.status);
    metrics.addDimension(DIMENSIONS.statusClass, statusClass);
    metrics.addDimensions({});
    metrics.addMetric(OUTCOME_METRICS.requests, MetricUnit.Count, 1);
    if (isErrorClass(statusClass)) metrics.addMetric(OUTCOME_METRICS.errors, MetricUnit.Count, 1);
    metrics.addMetric(OUTCOME_METRICS.requestLatency, MetricUnit.Milliseconds, r.latencyMs);
    // The exact status is for log searches; as a dimension it would multiply the alarms' metrics.
    metrics.addMetadata('status', String(r.status));
    metrics.publishStoredMetrics();
  }

  /**
   * Publishes one admission decision under `{service, task}`: `QueueDepth` seen on arrival, `Shed` (1 when
   * refused, else 0) and, when accepted, `QueueWait`.
   */
  recordAdmission(event: AdmissionEvent): void {
    const metrics = this.admissions;
    metrics.addDimensions({ [DIMENSIONS.task]: event.task });
    metrics.addMetric(ADMISSION_METRICS.queueDepth, MetricUnit.Count, event.queueDepth);
    // 0 as well as 1: a minute with requests and none shed reads 0, not "no data", to the scaling alarm.
    metrics.addMetric(ADMISSION_METRICS.shed, MetricUnit.Count, event.shed ? 1 : 0);
    if (event.queueWaitMs !== undefined)
      metrics.addMetric(ADMISSION_METRICS.queueWait, MetricUnit.Milliseconds, event.queueWaitMs);
    metrics.publishStoredMetrics();
  }

  /**
   * `metrics` with this record's default dimensions beside the service: replaced, not overwritten, since
   * Powertools warns on every default it overwrites.
   */
  private withDefaults(metrics: Metrics, defaults: Record<string, string>): Metrics {
    metrics.clearDefaultDimensions();
    return metrics.setDefaultDimensions({ [DIMENSIONS.service]: this.service, ...defaults });
  }
}
