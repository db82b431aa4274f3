/**
 * The featuriser of the fastText-style text classifier, shared by training and serving so that both see
 * exactly the same ids: NFKC, lower-case, Unicode word tokens, then word n-grams and character n-grams
 * hashed (FNV-1a, 32 bit, over UTF-8) into a fixed number of buckets. There is no vocabulary: the settings
 * below are all a model needs, and they are saved next to it as JSON.
 */

/** The featuriser settings a model was trained with (`featurizer.json` in its model version). */
export interface FeaturizerSettings {
  /**
   * Format of these settings; bump when ids would change for the same text. 1: no `cleanMail` (models
   * written before it load unchanged); 2: `cleanMail` is stated.
   */
  readonly version: 1 | 2;
  /** Hash buckets B: ids are `0..B-1`, the rows of the embedding. */
  readonly buckets: number;
  /** Longest word n-gram: 1 (unigrams) or 2 (unigrams and bigrams). */
  readonly wordNgrams: number;
  /** Shortest and longest character n-gram of `<word>`; `[0, 0]` for none. */
  readonly charNgrams: readonly [number, number];
  /** Word tokens read per text; the rest of a longer text is ignored. */
  readonly maxTokens: number;
  /** Characters of a word that character n-grams are taken from (long runs such as base64 are cut). */
  readonly maxCharNgramWordLength: number;
  /** Version 2: whether {@link cleanMailText} runs before tokenising; absent (version 1) means no. */
  readonly cleanMail?: boolean;
}

/** Settings of a new model unless told otherwise. */
export const DEFAULT_FEATURIZER: FeaturizerSettings = Object.freeze({
  version: 1,
  buckets: 1 << 16,
  wordNgrams: 2,
  charNgrams: [3, 5] as const,
  maxTokens: 4096,
  maxCharNgramWordLength: 24,
});

// A separator line (Mailman's underscores, SourceForge's and Yahoo! Groups' dashes) and what follows it, when
// that names a list: the footer a list server appends, the same words under every message of the list.
const LIST_FOOTER =
  /\n[ \t]*[-_=]{20,}[ \t]*\n(?=[\s\S]{0,600}?(?:mailing list|listinfo|unsubscribe|sponsored by|yahoo! groups))[\s\S]*$/i;
// RFC 3676's signature separator ("-- ", often sent without its space) and everything after it.
const SIGNATURE = /\n-- ?\n[\s\S]*$/;
// Quoting marks at the start of lines ("> > text"), and the "On <date>, <name> wrote:" line of a reply.
const QUOTE_MARKS = /^(?:[ \t]*>)+[ \t]?/gm;
const ATTRIBUTION = /^[^\n]{0,200}\b(?:wrote|writes):[ \t]*(?:\n|$)/gm;
// A URL (scheme or www.) kept as its host without "www."; an address as its domain.
const URL =
  /\b(?:(?:https?|ftp):\/\/|www\.)(?:[^\s/?#<>"'@]*@)?(?:www\.)?([^\s/?#<>"':]+)(?::\d+)?(?:[/?#][^\s<>"']*[^\s<>"'.,;:!?)\]])?/gi;
const EMAIL = /\b[\w.+-]+@([\w-]+(?:\.[\w-]+)+)\b/g;

/**
 * Removes what a mail corpus teaches by accident rather than what spam is: mailing-list footers, the
 * signature after `-- `, quoting marks and reply attributions; URLs become their host and addresses their
 * domain (a path or a user name is noise; the domain is evidence).
 *
 * @example
 * ```ts
 * cleanMailText('> see https://www.example.com/a?b=1\n-- \nBob'); // 'see example.com'
 * ```
 */
export function cleanMailText(text: string): string {
  return `\n${text.replace(/\r\n?/g, '\n')}`
    .replace(LIST_FOOTER, '\n')
    .replace(SIGNATURE, '\n')
    .replace(ATTRIBUTION, '')
    .replace(QUOTE_MARKS, '')
    .replace(URL, (_all, host: string) => host.replace(/\.+$/, '').toLowerCase())
    .replace(EMAIL, (_all, domain: string) => domain.toLowerCase())
    .slice(1);
}

/** One feature of a text as {@link explainFeatures} reports it: its id and the token it belongs to. */
export interface ExplainedFeature {
  readonly id: number;
  /** A word (for its unigram and character n-grams) or `w1 w2` (for a bigram). */
  readonly token: string;
}

// Letters, marks and digits make words; any other visible character is a token of its own ("$", "!").
// Controls, format characters and unassigned code points (\p{C}) separate tokens and are never features.
const TOKEN = /[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}\p{C}]/gu;
const WORD = /^[\p{L}\p{M}\p{N}]/u;

/** Kind prefixes keep a unigram, a bigram and a character n-gram of the same text in different buckets. */
const UNIGRAM = 0x57; // 'W'
const BIGRAM = 0x42; // 'B'
const CHAR_NGRAM = 0x43; // 'C'

/**
 * Splits a text into the word tokens the model sees: NFKC-normalised, lower-cased, at most `maxTokens`.
 *
 * @example
 * ```ts
 * tokenize('Win £1000 NOW!!', DEFAULT_FEATURIZER); // ['win', '£', '1000', 'now', '!', '!']
 * ```
 */
export function tokenize(text: string, settings: Pick<FeaturizerSettings, 'maxTokens'>): string[] {
  const tokens: string[] = [];
  if (settings.maxTokens <= 0) return tokens;
  const normalized = text.normalize('NFKC').toLowerCase();
  for (const match of normalized.matchAll(TOKEN)) {
    tokens.push(match[0]);
    if (tokens.length >= settings.maxTokens) break;
  }
  return tokens;
}

/** FNV-1a step over the UTF-8 bytes of one code point. */
function mixCodePoint(hash: number, cp: number): number {
  let h = hash;
  if (cp < 0x80) return Math.imul(h ^ cp, 0x01000193);
  if (cp < 0x800) {
    h = Math.imul(h ^ (0xc0 | (cp >> 6)), 0x01000193);
  } else {
    if (cp < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (cp >> 12)), 0x01000193);
    } else {
      h = Math.imul(h ^ (0xf0 | (cp >> 18)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), 0x01000193);
    }
    h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), 0x01000193);
  }
  return Math.imul(h ^ (0x80 | (cp & 0x3f)), 0x01000193);
}

const FNV_OFFSET = 0x811c9dc5;

/** The code points of a string; lone surrogates become U+FFFD, as a UTF-8 encoder writes them. */
export function codePoints(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else cp = 0xfffd;
    } else if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    out.push(cp);
  }
  return out;
}

/**
 * FNV-1a (32 bit) of an optional prefix byte followed by the UTF-8 bytes of `text`: the hash any other
 * language computes over the UTF-8 string, so the buckets do not depend on JavaScript's UTF-16 strings.
 */
export function fnv1a32(text: string, prefix = -1): number {
  return hashCodePoints(codePoints(text), 0, Number.POSITIVE_INFINITY, prefix);
}

/** FNV-1a of `prefix` and the UTF-8 bytes of `cps[start..end)`. */
function hashCodePoints(cps: readonly number[], start: number, end: number, prefix: number): number {
  let h = FNV_OFFSET;
  if (prefix >= 0) h = Math.imul(h ^ prefix, 0x01000193);
  const stop = Math.min(end, cps.length);
  for (let i = start; i < stop; i++) h = mixCodePoint(h, cps[i] as number);
  return h >>> 0;
}

/**
 * Visits every feature of a text in order: per token its unigram, its character n-grams, then the bigram
 * it ends. `visit(id, token)` gets the bucket and the token (or `w1 w2`) the feature belongs to.
 */
function visitFeatures(
  text: string,
  settings: FeaturizerSettings,
  visit: (id: number, token: string) => void,
): void {
  const { buckets } = settings;
  const [minn, maxn] = settings.charNgrams;
  const tokens = tokenize(settings.cleanMail ? cleanMailText(text) : text, settings);
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t] as string;
    visit(fnv1a32(token, UNIGRAM) % buckets, token);
    if (minn > 0 && WORD.test(token)) {
      // fastText's `<word>`: the boundary marks make prefixes and suffixes n-grams of their own.
      const bounded = codePoints(token).slice(0, settings.maxCharNgramWordLength);
      bounded.unshift(0x3c);
      bounded.push(0x3e);
      // FNV-1a extends one code point at a time: the n-grams from one start share their prefix's hash.
      for (let start = 0; start + minn <= bounded.length; start++) {
        let h = Math.imul(FNV_OFFSET ^ CHAR_NGRAM, 0x01000193);
        for (let end = start; end < start + maxn && end < bounded.length; end++) {
          h = mixCodePoint(h, bounded[end] as number);
          if (end + 1 - start >= minn) visit((h >>> 0) % buckets, token);
        }
      }
    }
    if (settings.wordNgrams >= 2 && t > 0) {
      const pair = `${tokens[t - 1]} ${token}`;
      visit(fnv1a32(pair, BIGRAM) % buckets, pair);
    }
  }
}

/** The feature ids of a text, in order, each in `0..buckets-1`; empty for a text without tokens. */
export function featurize(text: string, settings: FeaturizerSettings): Int32Array {
  const ids: number[] = [];
  visitFeatures(text, settings, (id) => ids.push(id));
  return Int32Array.from(ids);
}

/** The feature ids of a text together with the token each belongs to, for explanations. */
export function explainFeatures(text: string, settings: FeaturizerSettings): ExplainedFeature[] {
  const features: ExplainedFeature[] = [];
  visitFeatures(text, settings, (id, token) => features.push({ id, token }));
  return features;
}

/** Checks settings read from a model's `featurizer.json`; throws naming what is wrong. */
export function parseFeaturizerSettings(json: unknown, where: string): FeaturizerSettings {
  const s = json as Partial<Record<keyof FeaturizerSettings, unknown>>;
  const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const problems: string[] = [];
  if (typeof json !== 'object' || json === null) problems.push('not an object');
  else {
    if (s.version !== 1 && s.version !== 2) problems.push(`version ${String(s.version)} is not 1 or 2`);
    if (s.version === 1 && s.cleanMail !== undefined) problems.push('cleanMail needs version 2');
    if (s.version === 2 && typeof s.cleanMail !== 'boolean') problems.push('cleanMail must be true or false');
    if (!positiveInt(s.buckets) || (s.buckets as number) >= 2 ** 31) problems.push('buckets');
    if (s.wordNgrams !== 1 && s.wordNgrams !== 2) problems.push('wordNgrams must be 1 or 2');
    const c = s.charNgrams;
    if (
      !Array.isArray(c) ||
      c.length !== 2 ||
      !c.every((n) => Number.isInteger(n) && n >= 0) ||
      (c[0] === 0) !== (c[1] === 0) ||
      c[0] > c[1]
    )
      problems.push('charNgrams must be [min, max] with 0 < min <= max, or [0, 0]');
    if (!positiveInt(s.maxTokens)) problems.push('maxTokens');
    if (!positiveInt(s.maxCharNgramWordLength)) problems.push('maxCharNgramWordLength');
  }
  if (problems.length > 0) throw new Error(`invalid featurizer settings ${where}: ${problems.join('; ')}`);
  return json as FeaturizerSettings;
}
