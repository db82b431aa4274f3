/**
 * What a model name or version may be: one safe path segment and S3 key segment (letters, digits, `.`,
 * `_`, `-`, not starting with a punctuation mark), so a name from a request, a manifest, a configuration or
 * the command line can never step out of the repository (`..`, `/`, `\`).
 */

/** The pattern as source text, for schemas that build their own regular expression from it. */
export const SEGMENT_PATTERN = '[A-Za-z0-9][A-Za-z0-9._-]*';

/** A whole model name or version. */
export const SEGMENT = new RegExp(`^${SEGMENT_PATTERN}$`);

/** What a segment may hold, for error messages. */
export const SEGMENT_RULE = 'letters, digits, . _ - only';

/** Whether `value` can be a model name or version (and so cannot escape the repository). */
export function isSegment(value: string): boolean {
  return SEGMENT.test(value);
}
