import { renderText, stackLines } from '../test/support/render-text.ts';

/** A benchmark image with the text it shows, line by line in reading order. */
export interface BenchImage {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly format: 'png' | 'jpeg' | 'webp';
  readonly lines: readonly string[];
}

const RECEIPT = [
  'corner market 118 elm street',
  'order 20931 table 4',
  'coffee beans 1kg 18.90',
  'oat milk 2 x 2.45 4.90',
  'sourdough loaf 5.20',
  'subtotal 29.00',
  'tax 7% 2.03',
  'total 31.03',
  'paid by card 4417',
  'thank you for shopping',
];

const LETTER = [
  'dear customer,',
  'your parcel 7731-0042 left our depot today',
  'and should arrive within two working days.',
  'tracking is available on our website.',
  'if nobody is home the courier will leave',
  'a card with a pickup address nearby.',
  'kind regards, the shipping team',
];

const PAGE = Array.from({ length: 24 }, (_, i) => {
  const words = [
    'report',
    'quarter',
    'revenue',
    'growth',
    'region',
    'north',
    'south',
    'units',
    'margin',
    'forecast',
  ];
  const pick = (k: number) => words[(i * 7 + k * 3) % words.length];
  return `${i + 1}. ${pick(0)} ${pick(1)} ${pick(2)} ${1000 + i * 37} ${pick(3)} ${(i * 1.7).toFixed(1)}%`;
});

/** The benchmark set: receipts, a letter, a slide, a dense page, an upside-down scan; PNG, JPEG and WebP. */
export async function benchImages(): Promise<BenchImage[]> {
  const make = async (
    name: string,
    format: BenchImage['format'],
    width: number,
    height: number,
    texts: { text: string; fontSize: number }[],
    rotate: 0 | 180 = 0,
  ): Promise<BenchImage> => ({
    name,
    format,
    lines: texts.map((t) => t.text),
    bytes: await renderText({ width, height, format, rotate, lines: stackLines(texts, { x: 32, y: 24 }) }),
  });
  return [
    await make(
      'receipt.png',
      'png',
      640,
      620,
      RECEIPT.map((text) => ({ text, fontSize: 26 })),
    ),
    await make(
      'letter.jpg',
      'jpeg',
      1000,
      560,
      LETTER.map((text, i) => ({ text, fontSize: i === 0 ? 34 : 28 })),
    ),
    await make(
      'slide.png',
      'png',
      1280,
      720,
      ['quarterly results', 'revenue up 12%', 'costs down 3%'].map((text) => ({ text, fontSize: 64 })),
    ),
    await make(
      'page.png',
      'png',
      1240,
      1500,
      PAGE.map((text) => ({ text, fontSize: 28 })),
    ),
    await make(
      'receipt-upside-down.png',
      'png',
      640,
      620,
      RECEIPT.map((text) => ({ text, fontSize: 26 })),
      180,
    ),
    await make(
      'label.webp',
      'webp',
      800,
      300,
      ['fragile handle with care', 'box 3 of 5 weight 12.4 kg'].map((text) => ({ text, fontSize: 36 })),
    ),
  ];
}

/** Levenshtein distance over code points. */
function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[y.length] as number;
}

/**
 * Character accuracy, 1 − CER, of recognised text against the truth, lines joined by newlines;
 * white space is normalised (one space) so the measure is about characters and order, not spacing.
 */
export function characterAccuracy(truth: readonly string[], recognised: readonly string[]): number {
  const norm = (lines: readonly string[]) =>
    lines
      .map((l) => l.replace(/\s+/g, ' ').trim())
      .filter(Boolean)
      .join('\n');
  const t = norm(truth);
  return Math.max(0, 1 - editDistance(t, norm(recognised)) / t.length);
}
