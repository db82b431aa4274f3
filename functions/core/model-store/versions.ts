/**
 * How model versions order, for the store (which version a request without one gets, how lists read) and
 * the deployment (which version a configuration without one deploys): one rule, so both pick the same.
 */

const NUMERIC = /^\d+$/;

/** Whether `version` is numeric (`1`, `12`): only those are candidates for the default version. */
export function isNumericVersion(version: string): boolean {
  return NUMERIC.test(version);
}

/**
 * Numeric versions in numeric order (`2` before `10`, compared as integers of any length), before any
 * others in text order.
 */
export function compareVersions(a: string, b: string): number {
  const [aNumeric, bNumeric] = [isNumericVersion(a), isNumericVersion(b)];
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  if (aNumeric && BigInt(a) !== BigInt(b)) return BigInt(a) < BigInt(b) ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Model versions by name (text order), then by {@link compareVersions}. */
export function compareVersionRefs(
  a: { readonly name: string; readonly version: string },
  b: { readonly name: string; readonly version: string },
): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : compareVersions(a.version, b.version);
}

/** `versions` sorted by {@link compareVersions}, as a new array. */
export function sortVersions(versions: Iterable<string>): string[] {
  return [...versions].sort(compareVersions);
}

/**
 * The version a request or a configuration that names none gets: the highest numeric one, or `undefined`
 * when there is none (a model with only named versions must be asked for by version).
 *
 * @example
 * ```ts
 * defaultVersion(['1', '10', '2', 'beta']); // '10'
 * ```
 */
export function defaultVersion(versions: Iterable<string>): string | undefined {
  return sortVersions([...versions].filter(isNumericVersion)).at(-1);
}
