import { describe, expect, it } from 'vitest';
import { MODERN_TRAIN_REPEATS, spamTrainingSet } from '../../scripts/models/text.ts';
import { readModernMail } from '../../scripts/text/modern-mail.ts';
import { readModernTrain } from '../../scripts/text/modern-train.ts';
import { nearestPairs, shingles } from '../../scripts/text/near-duplicates.ts';

/** Word 5-gram shingles; the thresholds a training message must stay under against every evaluation one. */
const SHINGLE = 5;
const MAX_JACCARD = 0.1;
const MAX_CONTAINMENT = 0.2;

const HAM_KINDS = ['personal', 'work', 'transactional', 'newsletter', 'notification', 'list'];
const SPAM_KINDS = ['phishing', 'scam', 'marketing', 'imitation'];

describe('the modern training corpus of the spam classifier', () => {
  it('holds 400 to 800 distinct messages, each a subject and a body, of every kind, neither label under 40 %', async () => {
    const corpus = await readModernTrain();

    const kinds = new Set(corpus.map((m) => `${m.label} ${m.kind}`));
    const ham = corpus.filter((m) => m.label === 'ham').length;
    expect(corpus.length).toBeGreaterThanOrEqual(400);
    expect(corpus.length).toBeLessThanOrEqual(800);
    expect(new Set(corpus.map((m) => m.text)).size).toBe(corpus.length);
    expect(corpus.every((m) => /^[^\n]+\n\S/.test(m.text))).toBe(true);
    expect([...kinds].sort()).toEqual(
      [...HAM_KINDS.map((k) => `ham ${k}`), ...SPAM_KINDS.map((k) => `spam ${k}`)].sort(),
    );
    expect(ham / corpus.length).toBeGreaterThanOrEqual(0.4);
    expect(ham / corpus.length).toBeLessThanOrEqual(0.6);
  });

  it(`shares no message with the evaluation set: word ${SHINGLE}-gram Jaccard ≤ ${MAX_JACCARD}, containment ≤ ${MAX_CONTAINMENT}`, async () => {
    const corpus = await readModernTrain();
    const evaluation = await readModernMail();

    const pairs = nearestPairs(
      corpus.map((m) => m.text),
      evaluation.map((m) => m.text),
      SHINGLE,
    );

    const near = pairs.filter((p) => p.jaccard > MAX_JACCARD || p.containment > MAX_CONTAINMENT);
    expect(evaluation).toHaveLength(200);
    expect(near.map((p) => corpus[p.index]?.text.split('\n')[0])).toEqual([]);
  });
});

describe('the default model’s training set', () => {
  it('follows SpamAssassin’s training split with the modern corpus, each of its messages the set number of times', () => {
    const spamAssassin = [
      { text: 'a', label: 'ham' },
      { text: 'b', label: 'spam' },
    ];
    const modern = [{ text: 'c', label: 'ham' }];

    const joined = spamTrainingSet(spamAssassin, modern);

    expect(MODERN_TRAIN_REPEATS).toBeGreaterThan(1);
    expect(joined.map((e) => e.text)).toEqual(['a', 'b', ...Array(MODERN_TRAIN_REPEATS).fill('c')]);
  });
});

describe('near-duplicate detection by word shingles', () => {
  it('finds a message copied with a changed name and a sentence added, and not an unrelated one', () => {
    const original =
      'Quarterly review\nHi Dana, the quarterly review moved to Thursday at ten in the big room upstairs. Please bring the sales figures for the northern region and the draft forecast.';
    const edited = `${original.replace('Dana', 'Rob')} Coffee will be there.`;
    const unrelated =
      'Garden club\nThe seed swap is on Saturday morning in the church hall, bring envelopes and labels for the seeds you want to share.';

    const [copied, other] = nearestPairs([edited, unrelated], [original]);

    expect(copied?.jaccard).toBeGreaterThan(0.5);
    expect(copied?.containment).toBeGreaterThan(0.75);
    expect(other?.jaccard).toBe(0);
  });

  it('takes words in lower case, NFKC, without punctuation, and a short text as one shingle', () => {
    expect([...shingles('Ｏne, two! THREE', 2)]).toEqual(['one two', 'two three']);
    expect([...shingles('too short', 5)]).toEqual(['too short']);
    expect(shingles('!!!', 5).size).toBe(0);
  });
});
