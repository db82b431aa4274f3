import sharp from 'sharp';
import { loadSettings } from '../core/config/env.ts';
import { PayloadTooLargeError, UndecodableContentError, UnsupportedMediaTypeError } from '../core/errors.ts';

/** An image decoded to 8-bit RGB, row-major, three bytes a pixel, upright (EXIF orientation applied). */
export interface DecodedImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly format: 'png' | 'jpeg' | 'webp';
}

/** Limits on what {@link decodeImage} accepts. */
export interface DecodeImageOptions {
  /** Largest width × height accepted. Default: `OCR_MAX_PIXELS`, else 40 000 000. */
  readonly maxPixels?: number;
  /**
   * Awaited with the declared size once the header is accepted, before any pixel is decoded: where a
   * caller bounds the pixels held at once (the OCR pipeline's `PixelBudget`), a large image waits here.
   */
  readonly admit?: (width: number, height: number) => Promise<void>;
}

/** The pixel limit from `OCR_MAX_PIXELS` (default 40 megapixels; see `functions/core/config/env.ts`). */
export function maxPixelsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return loadSettings(env).OCR_MAX_PIXELS;
}

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  if (bytes.length < at + signature.length) return false;
  return signature.every((b, i) => bytes[at + i] === b);
}

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** The accepted format the bytes announce, from their magic numbers. */
function sniffAccepted(bytes: Uint8Array): DecodedImage['format'] | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  return undefined;
}

/**
 * Width and height from a PNG's IHDR, which the format requires to be the first chunk. Read here rather
 * than by the decoder because libspng refuses a header that is not followed by image data, and such a
 * header-only file is exactly what a decompression bomb looks like.
 */
function pngDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 24 || !startsWith(bytes, ascii('IHDR'), 12)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Width and height from a JPEG's frame header (the first SOF marker), walking the marker segments; undefined
 * where the walk does not reach one (the decoder then reads the header and names what is wrong). EXIF
 * orientation may swap the two, which leaves their product, all the pixel limit reads, as it is.
 */
function jpegDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++;
      continue;
    }
    const length = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = ((bytes[at + 5] as number) << 8) | (bytes[at + 6] as number);
      const width = ((bytes[at + 7] as number) << 8) | (bytes[at + 8] as number);
      return { width, height };
    }
    if (length < 2) return undefined;
    at += 2 + length;
  }
  return undefined;
}

/** Width and height from a WebP's first chunk (VP8X canvas, VP8 frame or VP8L header); undefined otherwise. */
function webpDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 30) return undefined;
  const u8 = (i: number) => bytes[i] as number;
  if (startsWith(bytes, ascii('VP8X'), 12)) {
    return {
      width: 1 + (u8(24) | (u8(25) << 8) | (u8(26) << 16)),
      height: 1 + (u8(27) | (u8(28) << 8) | (u8(29) << 16)),
    };
  }
  if (startsWith(bytes, ascii('VP8 '), 12) && startsWith(bytes, [0x9d, 0x01, 0x2a], 23)) {
    return { width: (u8(26) | (u8(27) << 8)) & 0x3fff, height: (u8(28) | (u8(29) << 8)) & 0x3fff };
  }
  if (startsWith(bytes, ascii('VP8L'), 12) && u8(20) === 0x2f) {
    const b = u8(21) | (u8(22) << 8) | (u8(23) << 16) | (u8(24) << 24);
    return { width: 1 + (b & 0x3fff), height: 1 + ((b >>> 14) & 0x3fff) };
  }
  return undefined;
}

/** A format we recognise but do not accept, so the client hears 415 rather than "corrupt". */
function sniffOther(bytes: Uint8Array): string | undefined {
  if (startsWith(bytes, ascii('GIF8'))) return 'GIF';
  if (startsWith(bytes, ascii('BM'))) return 'BMP';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return 'TIFF';
  if (startsWith(bytes, ascii('%PDF'))) return 'PDF';
  if (startsWith(bytes, ascii('ftyp'), 4)) return 'HEIF/AVIF';
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return 'ICO';
  if (
    startsWith(bytes, [0xff, 0x0a]) ||
    startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])
  ) {
    return 'JPEG XL';
  }
  // SVG is refused before any renderer sees it: it can reference files and explode in size.
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1').trimStart().toLowerCase();
  if (head.startsWith('<?xml') || head.startsWith('<svg')) return 'SVG';
  return undefined;
}

/**
 * Decodes a PNG, JPEG or WebP image to upright 8-bit RGB, transparency flattened onto white.
 *
 * The header is read first and an image whose declared width × height exceeds `maxPixels` is refused
 * before any pixel is decoded, so a small file cannot claim gigabytes of memory. A file whose data cannot
 * fill the frame its header declares (truncated, or a JPEG whose scan ends early) is refused, not padded.
 *
 * @throws {UnsupportedMediaTypeError} a recognisable image format other than PNG, JPEG or WebP (415).
 * @throws {PayloadTooLargeError} more pixels than allowed (413).
 * @throws {UndecodableContentError} anything else that does not decode: empty, truncated, corrupt (any JPEG
 *   the decoder warns about), unknown (422).
 *
 * @example
 * ```ts
 * const image = await decodeImage(new Uint8Array(await readFile('page.png')));
 * image.data[0]; // red of the top-left pixel
 * ```
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<DecodedImage> {
  const maxPixels = options.maxPixels ?? maxPixelsFromEnv();
  if (bytes.length === 0) throw new UndecodableContentError('image is empty (0 bytes)');
  const format = sniffAccepted(bytes);
  if (!format) {
    const other = sniffOther(bytes);
    if (other)
      throw new UnsupportedMediaTypeError(`${other} images are not supported; send PNG, JPEG or WebP`);
    throw new UndecodableContentError('not an image: expected PNG, JPEG or WebP content');
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Read from the header here where the format allows, which spares a pass of the decoder over it.
  let dimensions =
    format === 'png'
      ? pngDimensions(bytes)
      : format === 'jpeg'
        ? jpegDimensions(bytes)
        : webpDimensions(bytes);
  if (!dimensions) {
    try {
      dimensions = await sharp(input, { limitInputPixels: false }).metadata();
    } catch (error) {
      throw new UndecodableContentError(
        `${format.toUpperCase()} header cannot be read: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  const { width, height } = dimensions;
  if (!(width > 0 && height > 0)) {
    throw new UndecodableContentError(`${format.toUpperCase()} header declares no dimensions`);
  }
  if (width * height > maxPixels) {
    throw new PayloadTooLargeError(
      `image is ${width}×${height} (${width * height} pixels); the limit is ${maxPixels} pixels`,
    );
  }
  await options.admit?.(width, height);
  try {
    const { data, info } = await sharp(input, {
      limitInputPixels: maxPixels,
      failOn: failOnFor(format),
    })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`decoder produced ${info.channels} channels`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      format,
    };
  } catch (error) {
    throw new UndecodableContentError(
      `${format.toUpperCase()} image is truncated or corrupt: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * How strict the decoder is, per format. libjpeg reports scan data that ends before the declared frame is
 * filled ("Corrupt JPEG data: premature end of data segment") only as a warning and then pads the frame with
 * grey, so at `'error'` a 6 KB file whose header claims 6000×6600 decodes to a blank 40-megapixel page.
 * libjpeg's warnings name corrupt or non-conforming data, and with `'warning'` libvips stops at the first one, typically after a
 * few rows, before the frame is written out: a lying baseline JPEG costs a few MiB, not the full frame (a
 * progressive one is buffered whole before its scans run out, and that buffer is freed with the refusal).
 * libvips looks at the warning after each strip of 8 rows, so only a frame of 8 rows or fewer passes with
 * missing data: its padding is bounded by 8 rows of its width.
 * Trailing bytes after the last scan (a common camera quirk) raise no warning before the pixels are out, so
 * such files still decode. PNG and WebP stay at `'error'`: their decoders refuse short data themselves, and
 * libpng also warns about metadata that does not touch the pixels.
 */
function failOnFor(format: DecodedImage['format']): 'warning' | 'error' {
  return format === 'jpeg' ? 'warning' : 'error';
}

function messageOf(error: unknown): string {
  // libvips messages name the fault (e.g. "Input buffer has corrupt header"), never the bytes themselves.
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.slice(0, 200) ?? 'unknown error';
}
