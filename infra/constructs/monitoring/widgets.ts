/** The dashboard widgets the monitoring constructs share: graphs, section headings, EMF latency graphs. */
import { GraphWidget, type IMetric, TextWidget } from 'aws-cdk-lib/aws-cloudwatch';
import { INFERENCE_METRICS, STAGE_LATENCY_METRICS } from '../../../functions/core/metric-names.ts';
import type { EmfMetrics, ServedModelDimensions } from './emf-metrics.ts';

/** The percentiles a latency graph shows. */
export const LATENCY_PERCENTILES = ['p50', 'p90', 'p99'] as const;

/** A graph six rows high, `width` columns wide (of the dashboard's 24). */
export function graph(title: string, left: IMetric[], right: IMetric[] = [], width = 6): GraphWidget {
  return new GraphWidget({ title, left, right, width, height: 6 });
}

/** A section's heading: one full-width row of markdown. */
export function heading(markdown: string): TextWidget {
  return new TextWidget({ markdown, width: 24, height: 1 });
}

/** End-to-end EMF `Latency` p50, p90 and p99 of one served model. */
export function latencyGraph(
  emf: EmfMetrics,
  dimensions: ServedModelDimensions,
  title = `${dimensions.task}: latency`,
): GraphWidget {
  return graph(
    title,
    LATENCY_PERCENTILES.map((statistic) =>
      emf.inference(dimensions, INFERENCE_METRICS.latency, statistic, `latency ${statistic}`),
    ),
  );
}

/** p90 of each stage's EMF latency (decode, preprocess, inference, postprocess) of one served model. */
export function stagesGraph(
  emf: EmfMetrics,
  dimensions: ServedModelDimensions,
  title = `${dimensions.task}: stages p90`,
): GraphWidget {
  return graph(
    title,
    STAGE_LATENCY_METRICS.map((name) =>
      emf.inference(dimensions, name, 'p90', name.replace('Latency', '').toLowerCase()),
    ),
  );
}
