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
