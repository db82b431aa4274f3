/** Prefixes of the uploads bucket: sources, results and errors. */
export const INCOMING = 'incoming/';
export const RESULTS = 'results/';
export const ERRORS = 'errors/';

/** An uploaded object's key, split into the task segment (the modality, e.g. `image`) and the rest. */
export interface IncomingKey {
  readonly task: string;
  readonly name: string;
}

/**
 * Parses `incoming/<task>/<name>`; anything else (results, errors, folders, other prefixes) is `undefined`,
 * which is what keeps results from ever triggering processing again.
 */
export function parseIncomingKey(key: string): IncomingKey | undefined {
  if (!key.startsWith(INCOMING)) return undefined;
  const rest = key.slice(INCOMING.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const name = rest.slice(slash + 1);
  if (name === '' || name.endsWith('/')) return undefined;
  return { task: rest.slice(0, slash), name };
}

/** Longest object key S3 accepts, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

/**
 * Longest segment of a key (the text between two slashes), in bytes of UTF-8. S3 has no such limit, but the
 * embedded S3 (s3rver) stores each segment as a folder or file name, which Linux bounds at 255 bytes, and
 * adds up to 22 bytes to the last one (`<name>._S3rver_metadata.json`): a longer name fails with
 * ENAMETOOLONG, half written. One bound for both stores keeps a key that works locally working on AWS.
 */
export const MAX_SEGMENT_BYTES = 233;

// C0 and C1 controls (NUL included) and DEL: legal in S3 keys, but they break file names, logs and URLs.
const CONTROL = /\p{Cc}/u;
// A UTF-16 surrogate without its pair has no UTF-8 form, so no store can hold it.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why `key` is not a safe object key, or `undefined` when it is. A safe key is at most
 * {@link MAX_KEY_BYTES} bytes of UTF-8, has no `.` or `..` segment (a file store would resolve them to
 * another folder, another bucket or outside the store), no empty segment (a leading or doubled slash)
 * except a trailing slash (a folder marker), no segment over {@link MAX_SEGMENT_BYTES} bytes, and no
 * control character. The key is the decoded one: `%2e%2e` or `%2F` in a URL are checked as `..` and `/`.
 *
 * @example objectKeyProblem('incoming/image/scan.png') // undefined
 * @example objectKeyProblem('incoming/image/../../models/x') // 'the key has a ".." segment'
 */
export function objectKeyProblem(key: string): string | undefined {
  if (key === '') return 'the key is empty';
  if (LONE_SURROGATE.test(key)) return 'the key is not valid Unicode';
  if (CONTROL.test(key)) return 'the key has a control character';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `the key is ${bytes} bytes long, over the limit of ${MAX_KEY_BYTES}`;
  const segments = key.split('/');
  // A trailing slash names a folder marker, as S3 consoles create them; it ends in an empty segment.
  if (segments.length > 1 && segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return 'the key has an empty segment (a leading or doubled slash)';
    if (segment === '.' || segment === '..') return `the key has a "${segment}" segment`;
    const length = Buffer.byteLength(segment, 'utf8');
    if (length > MAX_SEGMENT_BYTES) {
      return `a segment of the key is ${length} bytes long, over the limit of ${MAX_SEGMENT_BYTES}`;
    }
  }
  return undefined;
}

/**
 * Why an uploaded object's key cannot be processed, or `undefined` when it can: the key itself and the key
 * of its result (`results/<task>/<name>.json`, a few bytes longer) must both be safe
 * ({@link objectKeyProblem}). A refused key gets an error record only where that record's own key is safe.
 */
export function incomingKeyProblem(key: string, incoming: IncomingKey): string | undefined {
  const problem = objectKeyProblem(key);
  if (problem) return problem;
  const result = objectKeyProblem(resultKey(incoming));
  return result && `its result's key would break a rule: ${result}`;
}

/** `results/<task>/<name>.json` */
export const resultKey = (k: IncomingKey) => `${RESULTS}${k.task}/${k.name}.json`;

/** `errors/<task>/<name>.json` */
export const errorKey = (k: IncomingKey) => `${ERRORS}${k.task}/${k.name}.json`;

/**
 * Decodes an object key as S3 event notifications carry it: URL-encoded, with spaces as `+`.
 *
 * @example decodeEventKey('incoming/image/Zo%C3%AB+scan.png') // 'incoming/image/Zoë scan.png'
 */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** Encodes a key the way S3 event notifications do: form-URL-encoded (spaces as `+`), slashes kept. */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/');
}
