import { randomUUID } from 'node:crypto';
import type { S3EventRecord, SQSEvent, SQSRecord } from 'aws-lambda';
import { encodeEventKey } from '../../functions/core/uploads/upload-keys.ts';

/** An S3 event notification record as AWS documents it (event version 2.1, URL-encoded key). */
export function s3Record(
  bucket: string,
  key: string,
  object: { eTag: string; size: number; versionId?: string },
): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:AIDAJDPLRKLG7UEXAMPLE' },
    requestParameters: { sourceIPAddress: '203.0.113.7' },
    responseElements: {
      'x-amz-request-id': 'C3D13FE58DE4C810',
      'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'incoming-uploads',
      bucket: {
        name: bucket,
        ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
        arn: `arn:aws:s3:::${bucket}`,
      },
      object: {
        key: encodeEventKey(key),
        size: object.size,
        eTag: object.eTag,
        ...(object.versionId ? { versionId: object.versionId } : {}),
        sequencer: '0055AED6DCD90281E5',
      },
    },
  };
}

/** An SQS message whose body is an S3 event notification (or any body given as a string). */
export function sqsMessage(body: { Records: S3EventRecord[] } | Record<string, unknown> | string): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: randomUUID(),
    receiptHandle: `AQEB${randomUUID()}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: now,
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:inferlet-image-uploads',
    awsRegion: 'us-east-1',
  };
}

/** The `s3:TestEvent` message S3 sends when a notification is configured. */
export const S3_TEST_EVENT = {
  Service: 'Amazon S3',
  Event: 's3:TestEvent',
  Time: '2026-11-26T03:20:00.000Z',
  Bucket: 'uploads',
  RequestId: '5582815E1AEA5ADF',
  HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
};

/** An SQS event of the given messages. */
export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
