/**
 * Reads what a text classification request asks for, from any door: a JSON body (`text` or `texts`), a raw
 * `text/plain` body (one text), an NDJSON body, or an uploaded `.txt` (one text) or `.jsonl` file (one text
 * per line). Limits are checked here, before any featurisation, one per concept whatever the format: texts
 * per request (`TEXT_MAX_TEXTS`) for a request answered while the client waits, texts per file
 * (`TEXT_MAX_FILE_TEXTS`) for an upload, characters per text (`TEXT_MAX_CHARS`) for both.
 */
import { loadSettings } from '../core/config/env.ts';
import {
  echoed,
  InvalidInputError,
  PayloadTooLargeError,
  UndecodableContentError,
  UnsupportedMediaTypeError,
} from '../core/errors.ts';
import { TimeSlicer } from '../core/event-loop.ts';
import { TextClassifyJsonRequest } from '../core/http/api-schemas.ts';
import { TEXT_MEDIA_TYPES } from '../core/tasks/media-types.ts';
import { parseJsonObject } from '../core/tasks/request-body.ts';
import type { TaskInput } from '../core/tasks/types.ts';

/** Media types a raw body may have (one list, shared with the task descriptors). */
export { TEXT_MEDIA_TYPES } from '../core/tasks/media-types.ts';

/** How much one request may ask for. */
export interface TextLimits {
  /** Most texts in one request a client waits for (HTTP, Lambda): JSON `texts` or NDJSON lines. */
  readonly maxTexts: number;
  /** Most characters (UTF-16 code units) in one text. */
  readonly maxChars: number;
  /** Most texts of one uploaded file: `.jsonl` (or NDJSON) lines or JSON `texts`. */
  readonly maxFileTexts: number;
}

/** How many tokens an explanation lists when a request says `"explain": true`. */
export const DEFAULT_EXPLAIN_TOKENS = 10;
/** Most tokens one explanation lists: enough to list every token of a typical mail (`rest` is then 0). */
export const MAX_EXPLAIN_TOKENS = 1000;
/**
 * Most explanation tokens one request asks for, `explain` × texts: 64 texts × 1000 tokens would answer
 * ~3 MB of JSON nobody reads; 64 texts can still have 156 tokens each, one text 1000.
 */
export const MAX_EXPLAINED_TOKENS = 10_000;

/** `TEXT_MAX_TEXTS`, `TEXT_MAX_CHARS` and `TEXT_MAX_FILE_TEXTS` from the settings; a bad value fails loudly. */
export function textLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): TextLimits {
  const settings = loadSettings(env);
  return {
    maxTexts: settings.TEXT_MAX_TEXTS,
    maxChars: settings.TEXT_MAX_CHARS,
    maxFileTexts: settings.TEXT_MAX_FILE_TEXTS,
  };
}

/** Where a result of a `.jsonl` input came from. */
export interface LineSource {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The line's `id`, when it had one. */
  readonly id?: string | number;
}

/** A parsed request. */
export interface TextRequest {
  readonly texts: string[];
  /** Tokens per explanation; 0 for none. */
  readonly explainTokens: number;
  /** For JSONL input: the line (and id) of each text, in order. */
  readonly lines?: LineSource[];
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  const steps = decodeUtf8Steps(bytes, what);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/** Bytes decoded between two steps of {@link decodeUtf8Steps}: a few ms of work. */
const DECODE_BYTES_PER_STEP = 4 << 20;

/** {@link decodeUtf8} a few MB at a time (a streaming decoder keeps characters cut between pieces whole). */
function* decodeUtf8Steps(bytes: Uint8Array, what: string): Generator<void, string> {
  // The decoder drops a leading byte order mark (its default), as editors often write one.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  try {
    for (let at = 0; at < bytes.byteLength; at += DECODE_BYTES_PER_STEP) {
      const end = Math.min(at + DECODE_BYTES_PER_STEP, bytes.byteLength);
      parts.push(decoder.decode(bytes.subarray(at, end), { stream: end < bytes.byteLength }));
      if (end < bytes.byteLength) yield;
    }
    parts.push(decoder.decode());
  } catch (error) {
    throw new UndecodableContentError(`${what} is not valid UTF-8`, { cause: error });
  }
  return parts.join('');
}

function checkLength(text: string, limits: TextLimits, where: string): string {
  if (text.length > limits.maxChars) {
    throw new PayloadTooLargeError(`${where} has ${text.length} characters; the limit is ${limits.maxChars}`);
  }
  return text;
}

function explainOption(value: unknown): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return DEFAULT_EXPLAIN_TOKENS;
  if (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EXPLAIN_TOKENS) {
    return value as number;
  }
  throw new InvalidInputError(
    `"explain" must be true, false or a number of tokens from 0 to ${MAX_EXPLAIN_TOKENS}`,
  );
}

/** The most texts `input` may hold: per file for an upload (it has a file name), else per request. */
function maxTextsOf(input: TaskInput, limits: TextLimits): { max: number; what: string } {
  return input.filename === undefined
    ? { max: limits.maxTexts, what: 'request' }
    : { max: limits.maxFileTexts, what: 'file' };
}

/** Lines parsed between two steps of {@link readJsonLines}: well under a millisecond of work each. */
const LINES_PER_STEP = 64;

/**
 * One text per non-blank line: a JSON string, or an object with a string `text` (and an optional `id`).
 * Stops after every {@link LINES_PER_STEP} lines, so that a 50 MB upload (~150 ms of parsing) can be read in
 * time slices.
 */
function* readJsonLines(source: string, limits: TextLimits, input: TaskInput): Generator<void, TextRequest> {
  const texts: string[] = [];
  const lines: LineSource[] = [];
  const { max, what } = maxTextsOf(input, limits);
  // Line by line rather than split(): a refused body is not split whole first.
  for (let start = 0, i = 0; start <= source.length; i++) {
    const newline = source.indexOf('\n', start);
    const end = newline < 0 ? source.length : newline;
    const raw = source.slice(start, end);
    start = end + 1;
    if (i % LINES_PER_STEP === LINES_PER_STEP - 1) yield;
    if (!raw.trim()) continue;
    if (texts.length >= max) {
      throw new PayloadTooLargeError(`more than ${max} texts in one ${what}; that is the limit`);
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new InvalidInputError(`line ${i + 1} is not valid JSON`, { cause: error });
    }
    const record = typeof value === 'string' ? { text: value } : (value as { text?: unknown; id?: unknown });
    if (typeof record !== 'object' || record === null || typeof record.text !== 'string') {
      throw new InvalidInputError(`line ${i + 1} needs a string "text" (or is a JSON string)`);
    }
    texts.push(checkLength(record.text, limits, `line ${i + 1}`));
    const id = record.id;
    lines.push(typeof id === 'string' || typeof id === 'number' ? { line: i + 1, id } : { line: i + 1 });
  }
  // As an empty text/plain body or an empty "texts" array is refused, so is a file with no text in it.
  if (texts.length === 0) throw new InvalidInputError('no texts: every line is blank');
  return { texts, explainTokens: 0, lines };
}

/**
 * Parses a request into texts and options.
 *
 * @throws InvalidInputError (400) for malformed JSON or fields, PayloadTooLargeError (413) beyond the limits,
 * UnsupportedMediaTypeError (415) for other media types, UndecodableContentError (422) for bytes that are
 * not UTF-8.
 */
export function readTextRequest(input: TaskInput, limits: TextLimits): TextRequest {
  const steps = requestSteps(input, limits);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/**
 * {@link readTextRequest} in time slices: JSON lines are parsed with a yield to the event loop every
 * ~20 ms. One JSON document is still parsed in one go (`JSON.parse`).
 */
export async function readTextRequestInSlices(input: TaskInput, limits: TextLimits): Promise<TextRequest> {
  const slicer = new TimeSlicer();
  const steps = requestSteps(input, limits);
  let step = steps.next();
  while (!step.done) {
    await slicer.pause();
    step = steps.next();
  }
  return step.value;
}

function* requestSteps(input: TaskInput, limits: TextLimits): Generator<void, TextRequest> {
  const filename = input.filename?.toLowerCase() ?? '';
  if (filename.endsWith('.txt')) {
    return {
      texts: [checkLength(decodeUtf8(input.bytes, 'the file'), limits, 'the file')],
      explainTokens: 0,
    };
  }
  if (filename.endsWith('.jsonl') || input.mediaType === 'application/x-ndjson') {
    return yield* readJsonLines(yield* decodeUtf8Steps(input.bytes, 'the body'), limits, input);
  }
  if (input.mediaType === 'text/plain') {
    if (input.bytes.byteLength === 0) throw new InvalidInputError('request body is empty');
    return {
      texts: [checkLength(decodeUtf8(input.bytes, 'the body'), limits, 'the text')],
      explainTokens: 0,
    };
  }
  if (input.mediaType !== 'application/json') {
    const got = input.mediaType ? echoed(input.mediaType) : 'no Content-Type';
    throw new UnsupportedMediaTypeError(
      `unsupported media type ${got}; send application/json, ${TEXT_MEDIA_TYPES.join(', ')}`,
    );
  }
  const json = parseJsonObject(input.bytes);
  // The schema that /openapi.json publishes decides; the checks below word its refusals precisely.
  const valid = TextClassifyJsonRequest.safeParse(json).success;
  const explainTokens = explainOption(json.explain);
  const { max, what } = maxTextsOf(input, limits);
  if ('text' in json === 'texts' in json) {
    throw new InvalidInputError('JSON body needs either a "text" string or a "texts" array');
  }
  if ('text' in json) {
    if (typeof json.text !== 'string') throw new InvalidInputError('"text" must be a string');
    checkLength(json.text, limits, '"text"');
    if (!valid)
      throw new InvalidInputError('JSON body does not match TextClassifyJsonRequest (see /openapi.json)');
    return { texts: [json.text], explainTokens };
  }
  const texts = json.texts;
  if (!Array.isArray(texts)) throw new InvalidInputError('"texts" must be an array of strings');
  if (texts.length === 0) throw new InvalidInputError('"texts" is empty');
  if (texts.length > max) {
    throw new PayloadTooLargeError(`"texts" has ${texts.length} texts; the limit is ${max} per ${what}`);
  }
  if (explainTokens * texts.length > MAX_EXPLAINED_TOKENS) {
    throw new PayloadTooLargeError(
      `"explain" asks for ${explainTokens} tokens for each of ${texts.length} texts; at most ` +
        `${MAX_EXPLAINED_TOKENS} per request ("explain": ${Math.floor(MAX_EXPLAINED_TOKENS / texts.length)} here)`,
    );
  }
  for (const [i, text] of texts.entries()) {
    if (typeof text !== 'string') throw new InvalidInputError(`"texts"[${i}] must be a string`);
    checkLength(text, limits, `"texts"[${i}]`);
  }
  if (!valid)
    throw new InvalidInputError('JSON body does not match TextClassifyJsonRequest (see /openapi.json)');
  return { texts: texts as string[], explainTokens };
}
