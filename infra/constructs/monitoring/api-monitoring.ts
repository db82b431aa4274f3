import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { MonitoringContext } from './context.ts';
import { FIVE_MINUTES } from './emf-metrics.ts';
import { graph, heading, LATENCY_PERCENTILES } from './widgets.ts';

/**
 * The dashboard section and alarms of the HTTP API, as API Gateway counts its requests: what callers see,
 * throttling, authorizer refusals and integration timeouts included. Alarms `Api5xxRate` and the p99
 * anomaly band `ApiLatency`.
 */
export function monitorApi({ dashboard, alarms }: MonitoringContext, api: HttpApi): void {
  const requests = api.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' });
  const serverErrors = api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' });
  dashboard.addWidgets(
    heading('## HTTP API'),
    graph(
      'API requests and errors',
      [requests.with({ label: 'requests' })],
      [
        api.metricClientError({ period: FIVE_MINUTES, statistic: 'Sum', label: '4xx' }),
        serverErrors.with({ label: '5xx' }),
      ],
      12,
    ),
    graph(
      'API latency',
      LATENCY_PERCENTILES.map((statistic) =>
        api.metricLatency({ statistic, period: FIVE_MINUTES, label: statistic }),
      ),
      [],
      12,
    ),
  );
  alarms.rate(
    'Api5xxRate',
    `HTTP API: more than ${alarms.thresholds.errorRatePercent}% of requests answered with a 5xx`,
    'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
    { requests, errors: serverErrors },
    '5xx %',
  );
  alarms.latencyAnomaly(
    'ApiLatency',
    'HTTP API',
    api.metricLatency({ statistic: 'p99', period: FIVE_MINUTES }),
  );
}
