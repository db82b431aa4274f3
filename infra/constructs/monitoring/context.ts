import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { MonitoringAlarms } from './alarms.ts';
import type { EmfMetrics } from './emf-metrics.ts';

/** What each tier's monitoring adds to: the one dashboard and alarm set of the deployment. */
export interface MonitoringContext {
  readonly dashboard: Dashboard;
  readonly alarms: MonitoringAlarms;
  readonly emf: EmfMetrics;
  /** Age of the oldest waiting upload, in seconds, that raises an alarm. */
  readonly oldestUploadAgeSeconds: number;
}
