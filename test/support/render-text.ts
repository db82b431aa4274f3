import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/**
 * The fontconfig file that lists only DejaVu from the npm package dejavu-fonts-ttf: text renders the same
 * everywhere and needs no system font. fontconfig reads the variable when librsvg first draws text, which
 * is after this module is evaluated, so setting it here (not before importing sharp) is enough.
 */
export const FONTS_CONF = fileURLToPath(new URL('fonts/fonts.conf', import.meta.url));
process.env.FONTCONFIG_FILE = FONTS_CONF;

/** One line of text to draw: its content, font size in pixels and baseline position. */
export interface TextLine {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly fontSize: number;
}

/** What to render: a white canvas with black text lines, optionally turned by a multiple of 90 degrees. */
export interface RenderOptions {
  readonly width: number;
  readonly height: number;
  readonly lines: readonly TextLine[];
  readonly format?: 'png' | 'jpeg' | 'webp';
  /** Clockwise rotation applied to the whole page after drawing. */
  readonly rotate?: 0 | 90 | 180 | 270;
  /** Default DejaVu Sans; `fonts.conf` knows only the DejaVu families, so another name falls back to one of them. */
  readonly fontFamily?: string;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG of a page; exported so tests can reuse a layout with a different encoder. */
export function pageSvg(options: RenderOptions): string {
  const family = options.fontFamily ?? "'DejaVu Sans', sans-serif";
  const texts = options.lines
    .map(
      (l) =>
        `<text x="${l.x}" y="${l.y}" font-family="${family}" font-size="${l.fontSize}" fill="#000">${escapeXml(l.text)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${options.width}" height="${options.height}"><rect width="100%" height="100%" fill="#fff"/>${texts}</svg>`;
}

/**
 * Renders text lines to an encoded image with sharp (librsvg draws the SVG `<text>`).
 *
 * @example
 * ```ts
 * const png = await renderText({ width: 640, height: 160, lines: [{ text: 'hello', x: 20, y: 60, fontSize: 40 }] });
 * ```
 */
export async function renderText(options: RenderOptions): Promise<Uint8Array> {
  let image = sharp(Buffer.from(pageSvg(options))).flatten({ background: '#ffffff' });
  if (options.rotate) image = image.rotate(options.rotate);
  switch (options.format ?? 'png') {
    case 'jpeg':
      image = image.jpeg({ quality: 90 });
      break;
    case 'webp':
      image = image.webp({ quality: 90 });
      break;
    default:
      image = image.png();
  }
  return new Uint8Array(await image.toBuffer());
}

/** Lines laid out top to bottom at a fixed left margin, `lineHeight` times the font size apart. */
export function stackLines(
  texts: readonly { text: string; fontSize: number }[],
  origin: { x: number; y: number } = { x: 24, y: 24 },
  lineHeight = 1.6,
): TextLine[] {
  const lines: TextLine[] = [];
  let top = origin.y;
  for (const t of texts) {
    lines.push({ text: t.text, x: origin.x, y: Math.round(top + t.fontSize), fontSize: t.fontSize });
    top += t.fontSize * lineHeight;
  }
  return lines;
}

/** The lines of {@link renderReceipt}: a small shop receipt, the kind of document most serverless OCR reads. */
export const RECEIPT_LINES = [
  'corner market',
  'coffee beans 18.90',
  'oat milk 4.90',
  'total 31.03',
  'paid by card 4417',
] as const;

/** A 620×290 PNG of {@link RECEIPT_LINES} at 28 px, top to bottom. */
export function renderReceipt(): Promise<Uint8Array> {
  return renderText({
    width: 620,
    height: 290,
    lines: stackLines(RECEIPT_LINES.map((text) => ({ text, fontSize: 28 }))),
  });
}
