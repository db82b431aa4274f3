import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { UploadQueue } from '../upload-queue.ts';
import { atLeastOnce } from './alarms.ts';
import type { MonitoringContext } from './context.ts';
import { FIVE_MINUTES } from './emf-metrics.ts';
import { graph } from './widgets.ts';

/**
 * The queue widgets of a task's uploads (waiting, in flight, dead letters, oldest message age) and the alarms
 * `<key>DeadLetters` (a dead-letter queue that is not empty) and `<key>OldestUpload` (an upload waiting
 * longer than `oldestUploadAgeSeconds`).
 */
export function monitorUploadQueue(
  { dashboard, alarms, oldestUploadAgeSeconds: maxAge }: MonitoringContext,
  key: string,
  task: string,
  uploads: UploadQueue,
): void {
  const minute = Duration.minutes(1);
  dashboard.addWidgets(
    graph(
      `${task} uploads`,
      [
        uploads.queue.metricApproximateNumberOfMessagesVisible({ label: 'waiting', period: minute }),
        uploads.queue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight', period: minute }),
        uploads.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          label: 'dead letters',
          period: minute,
          statistic: 'Maximum',
        }),
      ],
      [
        uploads.queue.metricApproximateAgeOfOldestMessage({
          label: 'oldest message age (s)',
          period: minute,
        }),
      ],
      12,
    ),
  );
  alarms.threshold(
    `${key}DeadLetters`,
    atLeastOnce(
      `${task}: uploads failed repeatedly and wait in the dead-letter queue`,
      uploads.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
    ),
  );
  alarms.threshold(`${key}OldestUpload`, {
    alarmDescription: `${task}: an upload has waited more than ${maxAge} s for its consumer (none running, too few, or failing)`,
    metric: uploads.queue.metricApproximateAgeOfOldestMessage({ period: FIVE_MINUTES, statistic: 'Maximum' }),
    threshold: maxAge,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 2,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}
