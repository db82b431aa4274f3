/**
 * The S3 side of processing an upload: the source object (its HEAD, its bytes within a limit) and the
 * result and error records written beside it. {@link UploadProcessor} decides; this only reads and writes.
 */
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PayloadTooLargeError } from '../errors.ts';
import { errorKey, type IncomingKey, resultKey } from './upload-keys.ts';

/** One uploaded object, as an S3 event names it. */
export interface UploadedObject {
  readonly bucket: string;
  /** The decoded key. */
  readonly key: string;
  readonly etag?: string;
  readonly versionId?: string;
  readonly size?: number;
}

/** Whether a record exists, and whether it records this version of the source. */
export type RecordState = 'absent' | 'this version' | 'another version';

/** The result and error records of one upload key, as found before processing. */
export interface Records {
  readonly resultKey: string;
  readonly errorKey: string;
  readonly result: RecordState;
  readonly error: RecordState;
}

/** The S3 reads and writes of an upload: the source, and its records tagged with the source's version. */
export class UploadObjects {
  constructor(
    private readonly s3: S3Client,
    /** Largest source read, in bytes. */
    private readonly maxObjectBytes: number,
  ) {}

  /** The source's HEAD (of the event's version, when it names one); `undefined` when it is gone. */
  async headSource(object: UploadedObject): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.s3.send(
        new HeadObjectCommand({
          Bucket: object.bucket,
          Key: object.key,
          ...(object.versionId && { VersionId: object.versionId }),
        }),
      );
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Reads the source, never more than the limit; `undefined` if it changed since the HEAD. */
  async readSource(
    object: UploadedObject,
    versionId: string | undefined,
    etag: string,
  ): Promise<Uint8Array | undefined> {
    let body: Readable;
    try {
      const response = await this.s3.send(
        new GetObjectCommand({
          Bucket: object.bucket,
          Key: object.key,
          ...(versionId ? { VersionId: versionId } : etag ? { IfMatch: `"${etag}"` } : {}),
        }),
      );
      body = response.Body as Readable;
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) return undefined;
      throw error;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > this.maxObjectBytes) {
        body.destroy();
        throw new PayloadTooLargeError(
          `object grew past the limit of ${this.maxObjectBytes} bytes while read`,
        );
      }
      chunks.push(chunk as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  }

  /** Which of the key's result and error records exist, and whether each is of this source version. */
  async records(
    bucket: string,
    incoming: IncomingKey,
    etag: string,
    versionId: string | undefined,
  ): Promise<Records> {
    const state = async (key: string): Promise<RecordState> => {
      try {
        const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        const meta = head.Metadata ?? {};
        return meta['source-etag'] === etag && (meta['source-version-id'] ?? '') === (versionId ?? '')
          ? 'this version'
          : 'another version';
      } catch (error) {
        if (statusOf(error) === 404) return 'absent';
        throw error;
      }
    };
    const result = resultKey(incoming);
    const error = errorKey(incoming);
    // One after the other: a message keeps one request in flight, so a queue's concurrency bounds S3's load.
    const resultState = await state(result);
    const errorState = await state(error);
    return { resultKey: result, errorKey: error, result: resultState, error: errorState };
  }

  /**
   * Deletes the key's `which` record if it was found: called once the other record is written, so the key
   * always has one. Only a record found is deleted, so a role that may not delete objects fails only
   * where a stale record is left, and the failure is retried as any S3 failure is.
   */
  async removeIfFound(bucket: string, records: Records, which: 'result' | 'error'): Promise<void> {
    if (records[which] === 'absent') return;
    const key = which === 'result' ? records.resultKey : records.errorKey;
    await this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  /** Writes a record as JSON, tagged with the source version it is about. */
  async putJson(
    bucket: string,
    key: string,
    body: unknown,
    etag: string,
    versionId: string | undefined,
  ): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(body),
        ContentType: 'application/json',
        Metadata: { 'source-etag': etag, ...(versionId ? { 'source-version-id': versionId } : {}) },
      }),
    );
  }
}

/** The HTTP status of an AWS SDK failure, if it has one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
