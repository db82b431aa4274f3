/**
 * The typed errors of Inferlet. Core code throws these; only the edges (HTTP, Lambda, upload handlers)
 * turn them into a status code. Anything that is not an {@link InferletError} is treated as a 500.
 */
export abstract class InferletError extends Error {
  /** HTTP status this error maps to at the edge. */
  abstract readonly status: number;
  /** Whether a retry of the same request may succeed (used by the upload path to choose retry vs. errors/). */
  readonly transient: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
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

/** Maps any thrown value to a status and a message that is safe to return to a client. */
export function toHttpError(error: unknown): { status: number; message: string } {
  if (error instanceof InferletError) return { status: error.status, message: error.message };
  return { status: 500, message: 'internal error' };
}
