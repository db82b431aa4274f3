/** Calls of the page to its own server, and the answer's error worded as the API words it. */

/** Milliseconds per stage, as every task answer carries them. */
export interface StageTimings {
  readonly decode: number;
  readonly preprocess: number;
  readonly inference: number;
  readonly postprocess: number;
  readonly total: number;
}

/** An answer: the JSON body, or the API's error message. */
export type ApiAnswer<T> =
  | { readonly ok: true; readonly status: number; readonly body: T }
  | { readonly ok: false; readonly status: number; readonly error: string };

/**
 * Sends a request and reads its JSON answer. A 4xx or 5xx gives the API's own `{"error": "..."}` text,
 * unchanged: the API words its errors for people.
 */
export async function callApi<T>(path: string, init: RequestInit = {}): Promise<ApiAnswer<T>> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, error: `the server did not answer (${String(error)})` };
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok && body !== undefined) return { ok: true, status: response.status, body: body as T };
  const error =
    typeof (body as { error?: unknown } | undefined)?.error === 'string'
      ? (body as { error: string }).error
      : `HTTP ${response.status} ${response.statusText}`.trim();
  return { ok: false, status: response.status, error };
}

/** Posts a file (or any bytes) as the raw body, with its media type. */
export function postFile<T>(route: string, file: Blob, mediaType = file.type): Promise<ApiAnswer<T>> {
  return callApi<T>(route, {
    method: 'POST',
    body: file,
    headers: mediaType ? { 'Content-Type': mediaType } : {},
  });
}
