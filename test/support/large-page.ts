import sharp from 'sharp';
import { renderText, stackLines } from './render-text.ts';

/** Width and height of {@link largePage}: 39.6 megapixels, just under the default `OCR_MAX_PIXELS`. */
export const LARGE_PAGE = { width: 6300, height: 6286 } as const;

/**
 * A PNG of a 39.6-megapixel white page with two blocks of text: ~200 KB of file that decodes to ~120 MB of
 * pixels, as an attacker would send many times at once.
 */
export async function largePage(): Promise<Uint8Array> {
  const text = await renderText({
    width: 1600,
    height: 400,
    lines: stackLines([
      { text: 'A large page with a few lines', fontSize: 48 },
      { text: 'and a lot of white paper', fontSize: 48 },
    ]),
  });
  const png = await sharp({ create: { ...LARGE_PAGE, channels: 3, background: '#ffffff' } })
    .composite([
      { input: Buffer.from(text), top: 200, left: 300 },
      { input: Buffer.from(text), top: 4000, left: 3000 },
    ])
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png);
}
