/**
 * Near-duplicate detection between two sets of texts by word shingles: each text becomes the set of its
 * consecutive word n-grams (lower case, Unicode letters and digits), and two texts are compared by the
 * Jaccard index of their sets and by containment (the share of the smaller set found in the other). Used to
 * show that the modern training corpus shares no message with the evaluation set it must stay apart from.
 */

/** The word n-grams of a text, joined by spaces. Texts shorter than `n` words give their whole word run. */
export function shingles(text: string, n = 5): Set<string> {
  const words =
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  const result = new Set<string>();
  if (words.length === 0) return result;
  if (words.length < n) {
    result.add(words.join(' '));
    return result;
  }
  for (let i = 0; i + n <= words.length; i++) result.add(words.slice(i, i + n).join(' '));
  return result;
}

/** The closest pair found by {@link nearestPairs} for one text of the first set. */
export interface NearestPair {
  /** Index of the text in the first set. */
  readonly index: number;
  /** Index of its closest text in the second set (by Jaccard). */
  readonly nearest: number;
  /** |A ∩ B| / |A ∪ B| of their shingle sets. */
  readonly jaccard: number;
  /** |A ∩ B| / min(|A|, |B|): high when one text is copied inside a longer one. */
  readonly containment: number;
}

/**
 * For each text of `a`, its closest text of `b` by the Jaccard index of word `n`-gram shingles, and the
 * containment of that pair. Quadratic in the sizes: meant for sets of hundreds.
 */
export function nearestPairs(a: readonly string[], b: readonly string[], n = 5): NearestPair[] {
  const right = b.map((text) => shingles(text, n));
  return a.map((text, index) => {
    const left = shingles(text, n);
    let best: NearestPair = { index, nearest: -1, jaccard: 0, containment: 0 };
    for (const [j, other] of right.entries()) {
      let shared = 0;
      for (const s of left) if (other.has(s)) shared++;
      const jaccard = shared / Math.max(1, left.size + other.size - shared);
      const containment = shared / Math.max(1, Math.min(left.size, other.size));
      if (jaccard > best.jaccard || (best.nearest < 0 && j === 0))
        best = { index, nearest: j, jaccard, containment };
    }
    return best;
  });
}
