/**
 * The typed errors of Inferlet. Core code throws these; only the edges (HTTP, Lambda, upload handlers)
 * turn them into a status code. Anything that is not an {@link InferletError} is treated as a 500.
 */
export abstract class InferletError extends Error {
  /** HTTP status this error maps to at the edge. */
  abstract readonly status: number;
  /** Whether a retry of the same request may succeed (used by the upload path to choose retry vs. errors/). */
  readonly transient: boolean = false;
  /**
   * What an operator needs and a client must not see: a path, a bucket or key, an SDK's or onnxruntime's own
   * text. Logged with the error, never answered; the message says what the client did wrong, or what failed.
   */
  readonly detail: string | undefined;

  constructor(message: string, options?: InferletErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options?.detail;
  }
}

/** Options of an {@link InferletError}. */
export interface InferletErrorOptions {
  /** The error this one explains, logged with it (its message may hold internals). */
  readonly cause?: unknown;
  /** Internals for the log only, see {@link InferletError.detail}. */
  readonly detail?: string;
}

/** The request is malformed: bad JSON, missing fields, wrong shapes (400). */
export class InvalidInputError extends InferletError {
  readonly status = 400;
}

/** No such route, model or version (404). */
export class NotFoundError extends InferletError {
  readonly status = 404;
}

/** The named model or version is not in the repository (404). */
export class ModelNotFoundError extends NotFoundError {}

/** The body is larger than the configured limit (413). */
export class PayloadTooLargeError extends InferletError {
  readonly status = 413;
}

/** The Content-Type is not one the endpoint accepts (415). */
export class UnsupportedMediaTypeError extends InferletError {
  readonly status = 415;
}

/** The body is well-formed for its type but its content does not decode (422). */
export class UndecodableContentError extends InferletError {
  readonly status = 422;
}

/** The model exists but is not loaded, or failed to load (503). */
export class ModelNotReadyError extends InferletError {
  readonly status = 503;
  override readonly transient: boolean = true;
}

/** A model file does not match the sha256 its manifest declares: the model is refused (503). */
export class ChecksumMismatchError extends ModelNotReadyError {
  override readonly transient = false;
}

/** The model repository (folder or S3) failed in a way that may pass (503). */
export class RepositoryUnavailableError extends InferletError {
  readonly status = 503;
  override readonly transient = true;
}

/**
 * The server cannot take this request now: its task's queue is full for the configured wait, or the server
 * is shutting down (503). The edge answers it with `Retry-After: retryAfterSeconds`.
 */
export class OverloadedError extends InferletError {
  readonly status = 503;
  override readonly transient = true;
  /** When the client may try again, in whole seconds (at least 1). */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: InferletErrorOptions & { readonly retryAfterSeconds: number }) {
    super(message, options);
    this.retryAfterSeconds = Math.max(1, Math.ceil(options.retryAfterSeconds));
  }
}

/** Most characters of a client's name (model, input, output, route) an error message repeats. */
export const ECHOED_CHARS = 64;

/**
 * A name the client sent, quoted for an error message: JSON-escaped, and cut to {@link ECHOED_CHARS}
 * characters plus "…", so that a 5000-character name does not come back 5000 characters long.
 *
 * @example
 * ```ts
 * throw new NotFoundError(`model ${echoed(name)} not found`); // model "ppocr-v5" not found
 * ```
 */
export function echoed(value: unknown): string {
  return JSON.stringify(cutText(String(value), ECHOED_CHARS));
}

/** `text` cut to `max` code points with "…" after, or as it is when it is not longer. */
function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  // By code point, so that a cut never splits a surrogate pair into invalid UTF-16; 2 max + 2 code units
  // hold more than `max` code points whatever they are.
  const points = Array.from(text.slice(0, max * 2 + 2));
  return points.length > max ? `${points.slice(0, max).join('')}…` : text;
}

/**
 * Longest error message answered. A backstop: a message that repeats more of the request than it should
 * (a 16 KB Content-Type header, a name not passed through {@link echoed}) is cut here, with "…".
 */
export const MAX_ERROR_CHARS = 1000;

/** Maps any thrown value to a status and a message that is safe to return to a client. */
export function toHttpError(error: unknown): { status: number; message: string } {
  if (!(error instanceof InferletError)) return { status: 500, message: 'internal error' };
  return { status: error.status, message: cutText(error.message, MAX_ERROR_CHARS) };
}
