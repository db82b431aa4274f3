import { describe, expect, it } from 'vitest';
import {
  cleanMailText,
  DEFAULT_FEATURIZER,
  explainFeatures,
  type FeaturizerSettings,
  featurize,
  fnv1a32,
  parseFeaturizerSettings,
  tokenize,
} from '../../functions/text/featurizer.ts';

/** FNV-1a over the bytes Node's own UTF-8 encoder produces: the reference the featuriser must match. */
function fnvOfUtf8(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}

const settings: FeaturizerSettings = { ...DEFAULT_FEATURIZER, buckets: 1000, charNgrams: [3, 4] };

describe('the text featuriser', () => {
  it('hashes with FNV-1a 32 as published', () => {
    expect([fnv1a32(''), fnv1a32('a'), fnv1a32('foobar')]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
  });

  it('hashes the UTF-8 bytes of text outside ASCII and the BMP', () => {
    const texts = ['héllo wörld', '日本語のテキスト', 'emoji 😀👍🏽', 'ﬁ'];

    const ours = texts.map((t) => fnv1a32(t));

    expect(ours).toEqual(texts.map(fnvOfUtf8));
  });

  it('normalises with NFKC and lower-cases before splitting into words and symbols', () => {
    const tokens = tokenize('Ｗｉｎ ＦＲＥＥ £1000 ﬁnancing NOW!!', settings);

    expect(tokens).toEqual(['win', 'free', '£', '1000', 'financing', 'now', '!', '!']);
  });

  it('treats control and format characters as separators, never as features', () => {
    const clean = featurize('cheap pills', settings);

    const noisy = featurize('\u0000cheap\u0007\u200b\u0001pills\u001b', settings);

    expect(Array.from(noisy)).toEqual(Array.from(clean));
  });

  it('gives no ids for empty, blank or control-only text', () => {
    expect([
      featurize('', settings).length,
      featurize(' \n\t ', settings).length,
      featurize('\u0000\u0001\u0002', settings).length,
    ]).toEqual([0, 0, 0]);
  });

  it('keeps every id inside the buckets and is deterministic', () => {
    const text = 'Mixed scripts: Ελληνικά, русский, 中文, العربية, and emoji 🎉 — all hashed.';

    const first = featurize(text, settings);
    const second = featurize(text, settings);

    expect(first.length).toBeGreaterThan(20);
    expect(Array.from(first).every((id) => id >= 0 && id < settings.buckets)).toBe(true);
    expect(second).toEqual(first);
  });

  it('emits a unigram, the character n-grams of <word> and the bigram per token', () => {
    const one = featurize('spam', settings);
    const two = featurize('spam spam', settings);

    // "<spam>": 4 three-grams and 3 four-grams, plus the unigram.
    expect(one.length).toBe(1 + 4 + 3);
    expect(two.length).toBe(2 * one.length + 1);
  });

  it('hashes each character n-gram of <word> as FNV-1a of the n-gram with its kind prefix', () => {
    const grams = ['<sp', 'spa', 'pam', 'am>', '<spa', 'spam', 'pam>'];
    const unigram = fnv1a32('spam', 0x57) % settings.buckets;

    const ids = featurize('spam', { ...settings, wordNgrams: 1 });

    expect(new Set(ids)).toEqual(
      new Set([unigram, ...grams.map((g) => fnv1a32(g, 0x43) % settings.buckets)]),
    );
  });

  it('reads at most maxTokens tokens of a very long text', () => {
    const text = 'word '.repeat(100_000);

    const tokens = tokenize(text, { maxTokens: 4096 });

    expect(tokens).toHaveLength(4096);
  });

  it('attributes each feature to its word, or to the word pair for a bigram', () => {
    const features = explainFeatures('free money', settings);

    const tokens = new Set(features.map((f) => f.token));

    expect(tokens).toEqual(new Set(['free', 'money', 'free money']));
    expect(features.map((f) => f.id)).toEqual(Array.from(featurize('free money', settings)));
  });

  it('refuses settings that would not featurise', () => {
    expect(() => parseFeaturizerSettings({ ...settings, charNgrams: [4, 3] }, 'test')).toThrow(/charNgrams/);
    expect(() => parseFeaturizerSettings({ ...settings, version: 3 }, 'test')).toThrow(/version/);
    expect(() => parseFeaturizerSettings({ ...settings, version: 2 }, 'test')).toThrow(/cleanMail/);
    expect(() => parseFeaturizerSettings({ ...settings, cleanMail: true }, 'test')).toThrow(/version 2/);
    expect(parseFeaturizerSettings(JSON.parse(JSON.stringify(settings)), 'test')).toEqual(settings);
  });

  it('reads the settings of a version 2 model that cleans mail', () => {
    const v2 = { ...settings, version: 2, cleanMail: true };

    expect(parseFeaturizerSettings(JSON.parse(JSON.stringify(v2)), 'test')).toEqual(v2);
  });
});

describe('mail clean-up before featurising', () => {
  it('drops a mailing-list footer after its separator line', () => {
    const text =
      'Re: build\nThe patch works here.\n\n_______________________________________________\nExmh-users mailing list\nExmh-users@redhat.com\nhttps://listman.redhat.com/mailman/listinfo/exmh-users\n';

    expect(cleanMailText(text).trim()).toBe('Re: build\nThe patch works here.');
  });

  it('keeps a separator line that no list footer follows', () => {
    const text = 'Totals\n------------------------------\nTwo apples, three pears';

    expect(cleanMailText(text)).toBe(text);
  });

  it('drops the signature after "-- ", quoting marks and the reply attribution', () => {
    const text =
      'Re: lunch\nOn Tue, Jo Bloggs wrote:\n> > are you free?\n> maybe\nYes, 12:30.\n-- \nJo Bloggs | +44 20 7946 0000';

    expect(cleanMailText(text)).toBe('Re: lunch\nare you free?\nmaybe\nYes, 12:30.\n');
  });

  it('reduces URLs to their host and addresses to their domain', () => {
    const text = 'See https://www.Example.com/a/b?c=1#d or www.shop.example.org/x, mail sales@Example.COM';

    expect(cleanMailText(text)).toBe('See example.com or shop.example.org, mail example.com');
  });

  it('changes ids only for settings that ask for it: version 1 models featurise as before', () => {
    const text = '> quoted https://example.com/path/to/page';
    const v2 = { ...settings, version: 2 as const, cleanMail: true };

    expect(featurize(text, settings)).not.toEqual(featurize(text, v2));
    expect(featurize(text, v2)).toEqual(featurize('quoted example.com', settings));
  });
});
