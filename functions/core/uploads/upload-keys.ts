import { type TaskName, taskOfUpload } from '../tasks/descriptors.ts';

/** Prefixes of the uploads bucket: sources, results and errors. */
export const INCOMING = 'incoming/';
export const RESULTS = 'results/';
export const ERRORS = 'errors/';

/**
 * An uploaded object's key, read: the task it is for and the rest. `incoming/<modality>/<task>/<file>`
 * names the task, `incoming/<modality>/<file>` means the modality's default task ({@link taskOfUpload}).
 */
export interface IncomingKey {
  /** The key without `incoming/`, e.g. `text/embed/notes.txt`: its result and error records mirror it. */
  readonly path: string;
  /** The first segment, e.g. `text`. */
  readonly modality: string;
  /** The task the upload is for; `undefined` when its modality has no task (`incoming/video/x.mp4`). */
  readonly task?: TaskName;
  /** The file, the rest of the key after the modality and the task segment if any. */
  readonly name: string;
}

/**
 * Parses `incoming/<modality>/[<task>/]<name>`; anything else (results, errors, folders, other prefixes) is
 * `undefined`, which is what keeps results from ever triggering processing again. Only a task name of the
 * registry counts as a task segment, so a key never picks anything outside it.
 *
 * @example parseIncomingKey('incoming/text/embed/a.txt') // { path: 'text/embed/a.txt', modality: 'text', task: 'text/embed', name: 'a.txt' }
 * @example parseIncomingKey('incoming/image/scan.png') // { path: 'image/scan.png', modality: 'image', task: 'image/ocr', name: 'scan.png' }
 */
export function parseIncomingKey(key: string): IncomingKey | undefined {
  if (!key.startsWith(INCOMING)) return undefined;
  const path = key.slice(INCOMING.length);
  const slash = path.indexOf('/');
  if (slash <= 0) return undefined;
  const rest = path.slice(slash + 1);
  if (rest === '' || rest.endsWith('/')) return undefined;
  const modality = path.slice(0, slash);
  const upload = taskOfUpload(path);
  if (!upload) return { path, modality, name: rest };
  if (upload.name === '') return undefined;
  return { path, modality, task: upload.task.name, name: upload.name };
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
 * of its result (`results/<path>.json`, a few bytes longer) must both be safe
 * ({@link objectKeyProblem}). A refused key gets an error record only where that record's own key is safe.
 */
export function incomingKeyProblem(key: string, incoming: IncomingKey): string | undefined {
  const problem = objectKeyProblem(key);
  if (problem) return problem;
  const result = objectKeyProblem(resultKey(incoming));
  return result && `its result's key would break a rule: ${result}`;
}

/**
 * The result record of an upload: its key with `results/` for `incoming/` and `.json` added, so
 * `incoming/text/embed/a.txt` gives `results/text/embed/a.txt.json` and `incoming/image/scan.png`
 * `results/image/scan.png.json`.
 */
export const resultKey = (k: Pick<IncomingKey, 'path'>) => `${RESULTS}${k.path}.json`;

/** The error record of an upload: `errors/<path>.json`, beside where its result would be. */
export const errorKey = (k: Pick<IncomingKey, 'path'>) => `${ERRORS}${k.path}.json`;

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
