import { echoed, InvalidInputError, UnsupportedMediaTypeError } from '../errors.ts';
import type { TaskInput } from './types.ts';

/** Parses a JSON body into an object, or throws a 400 that says what is wrong (never echoing the body). */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength === 0) throw new InvalidInputError('request body is empty');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new InvalidInputError('request body is not valid JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

const GENERIC_BINARY = new Set(['', 'application/octet-stream']);

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Decodes standard or URL-safe base64, optionally as a `data:` URL; 400 when it is not base64. */
export function decodeBase64Field(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string') throw new InvalidInputError(`"${field}" must be a base64 string`);
  const comma = value.startsWith('data:') ? value.indexOf(',') : -1;
  const text = (comma >= 0 ? value.slice(comma + 1) : value).replace(/\s+/g, '');
  if (text.length === 0) throw new InvalidInputError(`"${field}" is empty`);
  if (!BASE64.test(text)) throw new InvalidInputError(`"${field}" is not valid base64`);
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

/**
 * Reads a binary payload that may come raw (one of `mediaTypes`) or as JSON `{ [field]: "<base64>" }`.
 * Returns the bytes and the JSON object (for further options), or throws 400/415.
 */
export function readBinaryOrJson(
  input: TaskInput,
  field: string,
  mediaTypes: readonly string[],
): { bytes: Uint8Array; json?: Record<string, unknown> } {
  if (input.mediaType === 'application/json') {
    const json = parseJsonObject(input.bytes);
    if (!(field in json)) throw new InvalidInputError(`JSON body needs a "${field}" field`);
    return { bytes: decodeBase64Field(json[field], field), json };
  }
  // A body with no type (or the generic binary one) is taken as raw: the decoder knows formats by signature.
  if (!mediaTypes.includes(input.mediaType) && !GENERIC_BINARY.has(input.mediaType)) {
    const got = input.mediaType ? echoed(input.mediaType) : 'no Content-Type';
    throw new UnsupportedMediaTypeError(
      `unsupported media type ${got}; send ${[...mediaTypes, 'application/json'].join(', ')}`,
    );
  }
  if (input.bytes.byteLength === 0) throw new InvalidInputError('request body is empty');
  return { bytes: input.bytes };
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaTypeOf(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Refuses a body sent with a content coding (`Content-Encoding: gzip`, `br`, ...) with 415, as RFC 7694
 * describes; only `identity`, or no header, passes. Compressed bodies are refused rather than inflated:
 * inflating would need a second bound on the decompressed size (a 6 MB gzip bomb inflates to gigabytes),
 * and without this check the compressed bytes were read as if they were the declared media type.
 *
 * @throws {UnsupportedMediaTypeError} any coding but `identity` (415); the header's value is echoed cut short.
 */
export function assertIdentityEncoding(contentEncoding: string | null | undefined): void {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0) return;
  const named = codings.join(', ');
  const shown = named.length > 40 ? `${named.slice(0, 40)}…` : named;
  throw new UnsupportedMediaTypeError(
    `Content-Encoding ${shown} is not supported; send the body uncompressed (identity)`,
  );
}
