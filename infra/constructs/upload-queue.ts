import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Props of {@link UploadQueue}. */
export interface UploadQueueProps {
  /**
   * How long a received message stays hidden; at least six times the consuming function's timeout, as
   * Lambda advises for SQS event sources, so a slow batch is not handed out twice.
   */
  readonly visibilityTimeout: Duration;
  /** Receives of one message before it moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /**
   * How long an unprocessed message is kept.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;
}

/** How a Lambda function consumes an {@link UploadQueue}. */
export interface UploadConsumerOptions {
  /** Messages per invocation. */
  readonly batchSize: number;
  /** Most concurrent invocations the event source drives; default: as many as Lambda allows. */
  readonly maxConcurrency?: number;
}

/**
 * The queue between a task's S3 upload events and its consumers, with a dead-letter queue that keeps what
 * failed `maxReceiveCount` times for 14 days. Both are encrypted (SSE-SQS, which S3 event notifications can
 * write to, unlike the AWS-managed KMS key) and refuse requests without TLS.
 */
export class UploadQueue extends Construct {
  /** The queue S3 events land in. */
  readonly queue: Queue;
  /** Where messages go after `maxReceiveCount` failed receives. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: UploadQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }

  /**
   * Lets `consumer` process the queue with partial batch responses (`batchItemFailures`), so only the
   * failed messages of a batch come back.
   */
  addLambdaConsumer(consumer: IFunction, options: UploadConsumerOptions): void {
    consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: options.batchSize,
        reportBatchItemFailures: true,
        ...(options.maxConcurrency && { maxConcurrency: options.maxConcurrency }),
      }),
    );
  }
}
