/**
 * The CloudWatch metrics a synthesised template reads, as CloudFormation has them: in alarms (plain and
 * metric math), anomaly detectors and dashboards. For audits that compare them with what is emitted.
 */
import type { Template } from 'aws-cdk-lib/assertions';

type Json = Record<string, unknown>;

/** One metric the template reads. */
export interface TemplateMetric {
  /** The logical id of the alarm or detector, or `dashboard: <widget title>`. */
  readonly usedBy: string;
  readonly namespace: string;
  readonly metricName: string;
  /** Dimension name -> value (a token stays an object; on a dashboard it reads `TOKEN`). */
  readonly dimensions: Readonly<Record<string, unknown>>;
}

function dimensionsOf(list: unknown): Record<string, unknown> {
  return Object.fromEntries(
    ((list as { Name: string; Value: unknown }[] | undefined) ?? []).map((d) => [d.Name, d.Value]),
  );
}

function metricOf(usedBy: string, metric: Json): TemplateMetric {
  return {
    usedBy,
    namespace: metric.Namespace as string,
    metricName: metric.MetricName as string,
    dimensions: dimensionsOf(metric.Dimensions),
  };
}

/** The metrics of every alarm: its own, or each of its metric-math query's. */
export function alarmMetrics(template: Template): TemplateMetric[] {
  return Object.entries(template.findResources('AWS::CloudWatch::Alarm')).flatMap(([id, resource]) => {
    const p = (resource as { Properties: Json }).Properties;
    const queries = ((p.Metrics as Json[] | undefined) ?? [])
      .map((query) => (query.MetricStat as Json | undefined)?.Metric as Json | undefined)
      .filter((metric): metric is Json => metric !== undefined);
    return [...(p.MetricName ? [p] : []), ...queries].map((metric) => metricOf(id, metric));
  });
}

/** The metric of every anomaly detector model. */
export function anomalyDetectorMetrics(template: Template): TemplateMetric[] {
  return Object.entries(template.findResources('AWS::CloudWatch::AnomalyDetector')).map(([id, resource]) =>
    metricOf(
      id,
      (resource as { Properties: { SingleMetricAnomalyDetector: Json } }).Properties
        .SingleMetricAnomalyDetector,
    ),
  );
}

/**
 * The metrics every dashboard graphs. A body is a `Fn::Join` of JSON text and tokens (function names, the
 * region), each inside a JSON string, so a placeholder for every token leaves JSON to parse. A metric row is
 * `[namespace, name, dimension, value, ..., options?]`; a metric-math row has no name and is skipped.
 */
export function dashboardMetrics(template: Template): TemplateMetric[] {
  return Object.values(template.findResources('AWS::CloudWatch::Dashboard')).flatMap((dashboard) => {
    const body = (dashboard as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } })
      .Properties.DashboardBody['Fn::Join'][1];
    const { widgets } = JSON.parse(
      body.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join(''),
    ) as {
      widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
    };
    return widgets.flatMap(({ properties }) =>
      (properties.metrics ?? [])
        .map((row) => row.filter((cell): cell is string => typeof cell === 'string'))
        .filter((cells) => cells.length >= 2)
        .map(([namespace, metricName, ...pairs]) => ({
          usedBy: `dashboard: ${properties.title}`,
          namespace: namespace as string,
          metricName: metricName as string,
          dimensions: Object.fromEntries(
            pairs.flatMap((name, i) => (i % 2 === 0 ? [[name, pairs[i + 1]]] : [])),
          ),
        })),
    );
  });
}

/** A comparable key of a metric: namespace, name and dimensions sorted by name. */
export function metricKey(
  namespace: string,
  metricName: string,
  dimensions: Readonly<Record<string, unknown>>,
): string {
  const sorted = Object.keys(dimensions)
    .sort()
    .map((name) => [name, dimensions[name]]);
  return `${namespace} ${metricName} ${JSON.stringify(sorted)}`;
}
