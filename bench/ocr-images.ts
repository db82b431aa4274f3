import sharp from 'sharp';
import { pageSvg, renderText, stackLines } from '../test/support/render-text.ts';

/** A benchmark image with the text it shows, line by line in reading order. */
export interface BenchImage {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly format: 'png' | 'jpeg' | 'webp';
  readonly lines: readonly string[];
  /**
   * One of the small documents (1 to 10 lines, at most 620×300) most serverless OCR traffic is: receipts,
   * labels, screenshots, forms. The others are the larger documents.
   */
  readonly small: boolean;
}

/** A small seeded generator (mulberry32), so the photographed look is the same in every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Renders lines as if photographed by a phone: a tinted, unevenly lit page, turned by a small angle,
 * slightly blurred, with sensor noise, saved as JPEG at phone quality.
 */
export async function photographed(
  width: number,
  height: number,
  texts: { text: string; fontSize: number }[],
  options: { seed: number; angle: number; blur: number },
): Promise<Uint8Array> {
  const svg = pageSvg({ width, height, lines: stackLines(texts, { x: 28, y: 18 }) }).replace(
    '<rect width="100%" height="100%" fill="#fff"/>',
    // Light falls off from one corner, as under a desk lamp; the paper is off-white.
    '<defs><radialGradient id="l" cx="0.2" cy="0.1" r="1.2"><stop offset="0" stop-color="#f7f3ea"/>' +
      '<stop offset="1" stop-color="#b9b3a6"/></radialGradient></defs><rect width="100%" height="100%" fill="url(#l)"/>',
  );
  const turned = await sharp(Buffer.from(svg))
    .rotate(options.angle, { background: '#8d877c' })
    .blur(options.blur)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const random = seeded(options.seed);
  const { data, info } = turned;
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.max(0, Math.min(255, (data[i] as number) + Math.round((random() - 0.5) * 24)));
  }
  const jpeg = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .removeAlpha()
    .jpeg({ quality: 80 })
    .toBuffer();
  return new Uint8Array(jpeg);
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

/**
 * The benchmark set: receipts, a letter, a slide, a dense page, an upside-down scan; PNG, JPEG and WebP;
 * and six small documents of 1 to 5 lines (a receipt, a label, a screenshot's button row, a sticker, a
 * price tag, a form field), three of them photographed-looking.
 */
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
    // The set the README's earlier speed-up came from; the small documents below are the other group.
    small: false,
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
    ...(await smallDocuments()),
  ];
}

async function smallDocuments(): Promise<BenchImage[]> {
  const lines = (fontSize: number, ...texts: string[]) => texts.map((text) => ({ text, fontSize }));
  const photo = async (
    name: string,
    width: number,
    height: number,
    texts: { text: string; fontSize: number }[],
    options: { seed: number; angle: number; blur: number },
  ): Promise<BenchImage> => ({
    name,
    format: 'jpeg',
    small: true,
    lines: texts.map((t) => t.text),
    bytes: await photographed(width, height, texts, options),
  });
  const rendered = async (
    name: string,
    format: BenchImage['format'],
    width: number,
    height: number,
    texts: { text: string; fontSize: number }[],
  ): Promise<BenchImage> => ({
    name,
    format,
    small: true,
    lines: texts.map((t) => t.text),
    bytes: await renderText({ width, height, format, lines: stackLines(texts, { x: 24, y: 16 }) }),
  });
  return [
    // The receipt: 620×290, five lines.
    await rendered(
      'small-receipt.png',
      'png',
      620,
      290,
      lines(28, 'corner market', 'coffee beans 18.90', 'oat milk 4.90', 'total 31.03', 'paid by card 4417'),
    ),
    await rendered('small-button-row.png', 'png', 480, 90, lines(26, 'save changes  cancel')),
    await rendered(
      'small-form-field.webp',
      'webp',
      520,
      150,
      lines(24, 'email address', 'jane.doe@example.com'),
    ),
    await photo(
      'small-receipt-photo.jpg',
      600,
      300,
      lines(26, 'bakery 12 high st', 'croissant 2.40', 'flat white 3.10', 'total 5.50'),
      {
        seed: 7,
        angle: 2,
        blur: 0.7,
      },
    ),
    await photo('small-label-photo.jpg', 520, 200, lines(30, 'keep refrigerated', 'best before 12 04 27'), {
      seed: 11,
      angle: -3,
      blur: 0.8,
    }),
    await photo('small-price-tag-photo.jpg', 360, 160, lines(32, 'apples 1 kg', '2.99'), {
      seed: 13,
      angle: 1.5,
      blur: 0.6,
    }),
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
