import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  PayloadTooLargeError,
  UndecodableContentError,
  UnsupportedMediaTypeError,
} from '../../functions/core/errors.ts';
import { decodeImage } from '../../functions/image/decode-image.ts';
import { pngHeaderOnly } from '../support/bad-images.ts';

/** A `width` × `height` image: red on the left half, blue on the right. */
async function halves(width: number, height: number): Promise<Sharp> {
  const left = await sharp({ create: { width: width / 2, height, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } }).composite([
    { input: left, left: 0, top: 0 },
  ]);
}

describe('decodeImage', () => {
  it('decodes a PNG to RGB pixels, row-major', async () => {
    const png = new Uint8Array(await (await halves(8, 4)).png().toBuffer());

    const image = await decodeImage(png);

    expect(image).toMatchObject({ width: 8, height: 4, format: 'png' });
    expect(image.data).toHaveLength(8 * 4 * 3);
    expect(Array.from(image.data.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(image.data.subarray(7 * 3, 8 * 3))).toEqual([0, 0, 255]);
  });

  it('flattens transparency onto white', async () => {
    const png = await sharp({
      create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();

    const image = await decodeImage(new Uint8Array(png));

    expect(Array.from(image.data.subarray(0, 3))).toEqual([255, 255, 255]);
  });

  it('turns a JPEG upright by its EXIF orientation', async () => {
    // Orientation 6: the stored 20 × 10 pixels are shown turned a quarter clockwise.
    const jpeg = await (await halves(20, 10)).jpeg().withMetadata({ orientation: 6 }).toBuffer();

    const image = await decodeImage(new Uint8Array(jpeg));

    expect(image).toMatchObject({ width: 10, height: 20, format: 'jpeg' });
    // The red (left) half is now on top.
    expect(image.data[0]).toBeGreaterThan(200);
    expect(image.data[(19 * 10 + 5) * 3 + 2]).toBeGreaterThan(200);
  });

  it('decodes a WebP', async () => {
    const webp = await (await halves(8, 4)).webp({ lossless: true }).toBuffer();

    const image = await decodeImage(new Uint8Array(webp));

    expect(image).toMatchObject({ width: 8, height: 4, format: 'webp' });
  });

  it('refuses empty bytes as undecodable', async () => {
    await expect(decodeImage(new Uint8Array(0))).rejects.toThrow(UndecodableContentError);
  });

  it('refuses a truncated PNG as undecodable', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .composite([{ input: await (await halves(32, 32)).png().toBuffer(), left: 5, top: 7 }])
      .png({ compressionLevel: 0 })
      .toBuffer();

    const attempt = decodeImage(new Uint8Array(png.subarray(0, Math.floor(png.length / 2))));

    await expect(attempt).rejects.toThrow(UndecodableContentError);
    await expect(attempt).rejects.toThrow(/PNG/);
  });

  it('refuses garbage bytes as undecodable', async () => {
    const garbage = new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 251));

    await expect(decodeImage(garbage)).rejects.toThrow(UndecodableContentError);
  });

  it('refuses a header declaring 20000 × 20000 pixels before decoding, naming the dimensions', async () => {
    const attempt = decodeImage(pngHeaderOnly(20_000, 20_000));

    await expect(attempt).rejects.toThrow(PayloadTooLargeError);
    await expect(attempt).rejects.toThrow(/20000×20000/);
  });

  it.each([
    ['JPEG', (s: Sharp) => s.jpeg()],
    ['JPEG, progressive', (s: Sharp) => s.jpeg({ progressive: true })],
    ['WebP, lossy', (s: Sharp) => s.webp()],
    ['WebP, lossless', (s: Sharp) => s.webp({ lossless: true })],
    ['WebP, with alpha (VP8X)', (s: Sharp) => s.ensureAlpha(0.5).webp()],
  ])('admits a %s at the size its header declares, the size it decodes to', async (_, encode) => {
    const bytes = new Uint8Array(await encode(await halves(122, 46)).toBuffer());
    let admitted = '';

    const image = await decodeImage(bytes, {
      admit: async (width, height) => {
        admitted = `${width}x${height}`;
      },
    });

    expect(admitted).toBe('122x46');
    expect(`${image.width}x${image.height}`).toBe('122x46');
  });

  it('refuses a JPEG whose frame header declares more pixels than allowed, before decoding', async () => {
    const bytes = new Uint8Array(await (await halves(100, 100)).jpeg().toBuffer());

    await expect(decodeImage(bytes, { maxPixels: 9_999 })).rejects.toThrow(/100×100/);
  });

  it('applies a smaller pixel limit when given one', async () => {
    const png = new Uint8Array(await (await halves(100, 100)).png().toBuffer());

    await expect(decodeImage(png, { maxPixels: 9_999 })).rejects.toThrow(PayloadTooLargeError);
  });

  it('refuses a GIF as an unsupported media type', async () => {
    const gif = await (await halves(8, 4)).gif().toBuffer();

    const attempt = decodeImage(new Uint8Array(gif));

    await expect(attempt).rejects.toThrow(UnsupportedMediaTypeError);
    await expect(attempt).rejects.toThrow(/GIF/);
  });

  it('refuses SVG without rendering it', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');

    await expect(decodeImage(new Uint8Array(svg))).rejects.toThrow(UnsupportedMediaTypeError);
  });
});
