import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadSettings } from './config/env.ts';
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
}

/**
 * Emits one CloudWatch Embedded Metric Format record per inference through Powertools Metrics.
 *
 * Powertools writes EMF to stdout, which Lambda turns into metrics and which a CloudWatch agent (or a log
 * router) does on ECS, so one library serves both tiers. A fresh `Metrics` per record keeps concurrent
 * requests in a long-running server from sharing a buffer. `POWERTOOLS_METRICS_DISABLED=true` silences it.
 */
export class InferenceMetrics {
  constructor(
    private readonly namespace = loadSettings().POWERTOOLS_METRICS_NAMESPACE,
    private readonly service = loadSettings().POWERTOOLS_SERVICE_NAME,
  ) {}

  /** Publishes the metrics of one inference. */
  record(r: InferenceRecord): void {
    const metrics = new Metrics({ namespace: this.namespace, serviceName: this.service });
    metrics.addDimensions({ task: r.task, model: r.model, variant: r.variant });
    metrics.addMetric('Latency', MetricUnit.Milliseconds, r.timings.total);
    metrics.addMetric('DecodeLatency', MetricUnit.Milliseconds, r.timings.decode);
    metrics.addMetric('PreprocessLatency', MetricUnit.Milliseconds, r.timings.preprocess);
    metrics.addMetric('InferenceLatency', MetricUnit.Milliseconds, r.timings.inference);
    metrics.addMetric('PostprocessLatency', MetricUnit.Milliseconds, r.timings.postprocess);
    metrics.addMetric('Inferences', MetricUnit.Count, 1);
    metrics.addMetric('Items', MetricUnit.Count, r.items);
    metrics.addMetric('PayloadSize', MetricUnit.Bytes, r.payloadBytes);
    metrics.addMetric('CpuTime', MetricUnit.Milliseconds, r.cpuMs);
    metrics.addMetric('MemoryRss', MetricUnit.Bytes, process.memoryUsage.rss());
    metrics.addMetric('ColdStart', MetricUnit.Count, r.coldStart ? 1 : 0);
    if (r.modelLoadMs !== undefined)
      metrics.addMetric('ModelLoadTime', MetricUnit.Milliseconds, r.modelLoadMs);
    metrics.addMetadata('source', r.source);
    metrics.publishStoredMetrics();
  }
}
