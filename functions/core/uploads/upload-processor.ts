import type { S3Client } from '@aws-sdk/client-s3';
import { loadSettings } from '../config/env.ts';
import {
  InferletError,
  InvalidInputError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../errors.ts';
import type { InferenceService } from '../inference-service.ts';
import { log } from '../log.ts';
import { NO_TASK, SOURCES } from '../metric-names.ts';
import { isTaskName, TASK_DESCRIPTORS, uploadPathOf } from '../tasks/descriptors.ts';
import { mediaTypeOf } from '../tasks/request-body.ts';
import {
  errorKey,
  INCOMING,
  type IncomingKey,
  incomingKeyProblem,
  objectKeyProblem,
  parseIncomingKey,
  resultKey,
} from './upload-keys.ts';
import { type UploadedObject, UploadObjects } from './upload-objects.ts';

export type { UploadedObject } from './upload-objects.ts';

/** What became of an upload. */
export type UploadOutcome =
  | { readonly status: 'processed'; readonly resultKey: string }
  | { readonly status: 'duplicate'; readonly resultKey: string }
  | { readonly status: 'refused'; readonly errorKey: string; readonly error: string }
  | { readonly status: 'ignored'; readonly reason: string };

/** Options of {@link UploadProcessor}. */
export interface UploadProcessorOptions {
  readonly service: InferenceService;
  readonly s3: S3Client;
  /** Largest object processed, in bytes; larger ones go to `errors/` unread. Default `MAX_UPLOAD_BYTES` or 50 MiB. */
  readonly maxObjectBytes?: number;
}

/** A failure that a later delivery may not hit (S3 5xx, throttling, network, a model still loading). */
export class TransientUploadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientUploadError';
  }
}

const strip = (etag: string | undefined) => etag?.replace(/"/g, '');

/** `MAX_UPLOAD_BYTES` from the settings (default 50 MiB). */
export function maxUploadBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return loadSettings(env).MAX_UPLOAD_BYTES;
}

/**
 * Processes files uploaded under `incoming/<modality>/<task>/`, or `incoming/<modality>/` for the modality's
 * default task: runs the task the key names ({@link parseIncomingKey}) and writes `results/<path>.json`, or
 * `errors/<path>.json` for a file that can never be processed, where `<path>` is the key after `incoming/`.
 *
 * Idempotent: a result records the source's ETag and version, so a second delivery of the same version is
 * skipped while a newer version is processed again, and a delivery that arrives while the same version is
 * being processed in this process waits for that one. Permanent failures are written and acknowledged;
 * transient ones throw {@link TransientUploadError} so the queue retries them.
 *
 * One record per key: writing a result removes the key's error record and writing an error record removes
 * its result, the new record first, so a reader never sees neither, nor an older version's outcome beside
 * the new one. A key that breaks the key rules ({@link incomingKeyProblem}: `..` segments, too long, ...)
 * is refused before anything reads or writes with it: with an error record where that record's own key is
 * safe, else logged and acknowledged.
 */
export class UploadProcessor {
  private readonly service: InferenceService;
  private readonly objects: UploadObjects;
  private readonly maxObjectBytes: number;
  /** The processing under way of each object version the event names, by bucket, key, version and ETag. */
  private readonly running = new Map<string, Promise<UploadOutcome>>();

  constructor(options: UploadProcessorOptions) {
    this.service = options.service;
    this.maxObjectBytes = options.maxObjectBytes ?? maxUploadBytesFromEnv();
    this.objects = new UploadObjects(options.s3, this.maxObjectBytes);
  }

  /** Processes one uploaded object. */
  async process(object: UploadedObject): Promise<UploadOutcome> {
    const incoming = parseIncomingKey(object.key);
    if (!incoming) return { status: 'ignored', reason: 'not under incoming/<modality>/' };
    const problem = incomingKeyProblem(object.key, incoming);
    if (problem) return this.refuseKey(object, incoming, problem);
    // The result check cannot see a result that is still being computed, so a duplicate event handled at
    // the same time would run the model and write the result twice: it joins the run under way instead.
    // An event with neither ETag nor version (a copy) could name newer content, so it always runs.
    const etag = strip(object.etag);
    const identity =
      etag || object.versionId
        ? JSON.stringify([object.bucket, object.key, object.versionId ?? '', etag ?? ''])
        : undefined;
    const running = identity === undefined ? undefined : this.running.get(identity);
    if (running) {
      return running.then((outcome) =>
        outcome.status === 'processed' ? { status: 'duplicate', resultKey: outcome.resultKey } : outcome,
      );
    }
    const started = performance.now();
    const run = this.transient(`processing ${object.key}`, () =>
      this.processIncoming(object, incoming, started),
    ).catch((error: unknown) => {
      // Left for the queue to retry: a failed attempt, counted as a server fault (5xx).
      this.recordOutcome(incoming, failureStatus(error), started);
      throw error;
    });
    if (identity === undefined) return run;
    this.running.set(identity, run);
    try {
      return await run;
    } finally {
      this.running.delete(identity);
    }
  }

  private async processIncoming(
    object: UploadedObject,
    incoming: IncomingKey,
    started: number,
  ): Promise<UploadOutcome> {
    const head = await this.objects.headSource(object);
    if (!head) return { status: 'ignored', reason: 'the object no longer exists' };
    const etag = strip(head.ETag) ?? strip(object.etag) ?? '';
    const versionId = head.VersionId ?? object.versionId;
    const source = { bucket: object.bucket, key: object.key, etag, ...(versionId ? { versionId } : {}) };
    const target = resultKey(incoming);
    const records = await this.objects.records(object.bucket, incoming, etag, versionId);
    if (records.result === 'this version' || records.error === 'this version') {
      // A delivery before this one wrote the record and may have failed before it removed the other one.
      if (records.result === 'this version')
        await this.objects.removeIfFound(object.bucket, records, 'error');
      else await this.objects.removeIfFound(object.bucket, records, 'result');
      return { status: 'duplicate', resultKey: target };
    }

    const task = this.servedTask(incoming);
    const refuse = async (error: InferletError): Promise<UploadOutcome> => {
      const key = errorKey(incoming);
      await this.objects.putJson(
        object.bucket,
        key,
        { source, error: error.message, status: error.status },
        etag,
        versionId,
      );
      await this.objects.removeIfFound(object.bucket, records, 'result');
      log.info('upload refused', {
        key: object.key,
        status: error.status,
        errorName: error.name,
        errorMessage: error.message,
      });
      this.recordOutcome(incoming, error.status, started);
      return { status: 'refused', errorKey: key, error: error.message };
    };
    if (!task) return refuse(new UnsupportedMediaTypeError(this.notServed(incoming)));
    const size = head.ContentLength ?? object.size ?? 0;
    if (size > this.maxObjectBytes) {
      return refuse(
        new PayloadTooLargeError(`object is ${size} bytes, over the limit of ${this.maxObjectBytes} bytes`),
      );
    }

    const contentType = mediaTypeOf(head.ContentType);
    // A generic or missing type lets the task go by the file's signature or extension.
    const mediaType =
      task.definition.mediaTypes.includes(contentType) || contentType === 'application/json'
        ? contentType
        : '';
    let result: Record<string, unknown>;
    try {
      const bytes = await this.objects.readSource(object, versionId, etag);
      if (!bytes)
        return { status: 'ignored', reason: 'the object changed before it was read; its own event follows' };
      result = await this.service.infer(
        task.definition.name,
        { mediaType, bytes, filename: incoming.name },
        'upload',
      );
    } catch (error) {
      if (isPermanent(error)) return refuse(error);
      throw error;
    }
    await this.objects.putJson(object.bucket, target, { source, ...result }, etag, versionId);
    await this.objects.removeIfFound(object.bucket, records, 'error');
    this.recordOutcome(incoming, 200, started);
    return { status: 'processed', resultKey: target };
  }

  /** The EMF outcome of one processed, refused or failed upload; neither the file nor its key is emitted. */
  private recordOutcome(incoming: IncomingKey, status: number, started: number): void {
    const task = this.servedTask(incoming);
    this.service.metrics.recordOutcome({
      task: task?.definition.name ?? NO_TASK,
      source: SOURCES.upload,
      status,
      latencyMs: performance.now() - started,
    });
  }

  /** The served task an upload is for, if this process serves it. */
  private servedTask(incoming: IncomingKey) {
    return this.service.tasks().find((t) => t.definition.name === incoming.task);
  }

  /** Why no task here takes an upload, with where each served task takes them. */
  private notServed(incoming: IncomingKey): string {
    const served = this.service
      .tasks()
      .map(({ definition: { name } }) =>
        isTaskName(name) ? `${name} (${INCOMING}${uploadPathOf(TASK_DESCRIPTORS[name])}/)` : name,
      )
      .join(', ');
    return incoming.task
      ? `task ${incoming.task} is not served here; this function serves ${served}`
      : `no task takes uploads under ${INCOMING}${incoming.modality}/; this function serves ${served}`;
  }

  /**
   * Refuses an object whose key breaks the key rules, without reading it: a HEAD or GET of such a key
   * could already reach outside the bucket in a file-backed store.
   */
  private async refuseKey(
    object: UploadedObject,
    incoming: IncomingKey,
    problem: string,
  ): Promise<UploadOutcome> {
    const started = performance.now();
    const error = new InvalidInputError(`the object key cannot be processed: ${problem}`);
    const key = errorKey(incoming);
    const shown = shortened(object.key);
    if (objectKeyProblem(key) !== undefined) {
      log.warn('upload key refused; its error record would break the key rules too', { key: shown, problem });
      this.recordOutcome(incoming, error.status, started);
      return { status: 'ignored', reason: error.message };
    }
    const etag = strip(object.etag) ?? '';
    const source = {
      bucket: object.bucket,
      key: object.key,
      etag,
      ...(object.versionId && { versionId: object.versionId }),
    };
    await this.transient(`refusing ${shown}`, () =>
      this.objects.putJson(
        object.bucket,
        key,
        { source, error: error.message, status: error.status },
        etag,
        object.versionId,
      ),
    );
    log.info('upload refused', {
      key: shown,
      status: error.status,
      errorName: error.name,
      errorMessage: error.message,
    });
    this.recordOutcome(incoming, error.status, started);
    return { status: 'refused', errorKey: key, error: error.message };
  }

  /** Runs `fn`, turning failures that a retry may cure into {@link TransientUploadError}. */
  private async transient<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new TransientUploadError(`${what} failed and may succeed on retry: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

/** The file itself is at fault (4xx): retrying cannot help, so it goes to `errors/`. Server faults are retried. */
function isPermanent(error: unknown): error is InferletError {
  return error instanceof InferletError && error.status < 500;
}

/** The status of a failure left for retry: its cause's, when that is a server-side Inferlet error, else 500. */
function failureStatus(error: unknown): number {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof InferletError && cause.status >= 500 ? cause.status : 500;
}

/** A key as logs show it: at most 200 characters, so that a hostile key cannot flood a log line. */
function shortened(key: string): string {
  return key.length > 200 ? `${key.slice(0, 200)}…` : key;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
