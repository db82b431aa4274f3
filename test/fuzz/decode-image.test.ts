import fc from 'fast-check';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { PayloadTooLargeError, UndecodableContentError } from '../../functions/core/errors.ts';
import { decodeImage } from '../../functions/image/decode-image.ts';
import { FUZZ_SEED, fuzzRuns, resultOrRefusalAsync } from './fuzz-support.ts';

/** A limit far below what the lying headers claim, so that a claim past it must be refused unread. */
const MAX_PIXELS = 250_000;

type Format = 'png' | 'jpeg' | 'webp-lossy' | 'webp-lossless' | 'webp-extended';

/** Small valid images of each header layout, made once. */
const images = new Map<Format, Uint8Array>();

/** Where each layout keeps its width and height, and how it writes them. */
function writeDimensions(format: Format, file: Uint8Array, width: number, height: number): Uint8Array {
  const bytes = file.slice();
  const view = new DataView(bytes.buffer);
  switch (format) {
    case 'png':
      view.setUint32(16, width >>> 0);
      view.setUint32(20, height >>> 0);
      break;
    case 'jpeg': {
      // The first start-of-frame marker (SOF0..SOF15 but DHT, JPG and DAC): precision, then height, width.
      for (let at = 2; at + 9 < bytes.length; ) {
        const marker = bytes[at + 1] as number;
        if (bytes[at] === 0xff && marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
          view.setUint16(at + 5, height & 0xffff);
          view.setUint16(at + 7, width & 0xffff);
          break;
        }
        at += 2 + view.getUint16(at + 2);
      }
      break;
    }
    default:
      // Every chunk that states the size: the VP8X canvas and the bitstream's own header must agree.
      for (
        let at = 12;
        at + 8 <= bytes.length;
        at += 8 + view.getUint32(at + 4, true) + (view.getUint32(at + 4, true) % 2)
      ) {
        const id = String.fromCharCode(...bytes.subarray(at, at + 4));
        const data = at + 8;
        if (id === 'VP8 ') {
          // Key frame: 3 bytes of frame tag, the start code, then 14-bit width and height.
          view.setUint16(data + 6, width & 0x3fff, true);
          view.setUint16(data + 8, height & 0x3fff, true);
        } else if (id === 'VP8L') {
          // After the 0x2f signature: 14 bits of width - 1, 14 bits of height - 1, then flags.
          const flags = view.getUint32(data + 1, true) & ~0xfffffff;
          view.setUint32(
            data + 1,
            (((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14) | flags) >>> 0,
            true,
          );
        } else if (id === 'VP8X') {
          // 24-bit canvas width - 1 and height - 1 after 4 bytes of flags.
          for (const [offset, value] of [
            [4, width - 1],
            [7, height - 1],
          ] as const) {
            bytes[data + offset] = value & 0xff;
            bytes[data + offset + 1] = (value >> 8) & 0xff;
            bytes[data + offset + 2] = (value >> 16) & 0xff;
          }
        }
      }
  }
  return bytes;
}

/** The dimensions `sharp` reads from a header, for checking that the lie was written where it is read. */
async function declared(bytes: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  try {
    const { width, height } = await sharp(bytes, { limitInputPixels: false }).metadata();
    return { width, height };
  } catch {
    return undefined;
  }
}

describe('image header checks under fuzzing', () => {
  beforeAll(async () => {
    const page = sharp({ create: { width: 40, height: 30, channels: 3, background: '#f0f0f0' } });
    images.set('png', new Uint8Array(await page.clone().png().toBuffer()));
    images.set('jpeg', new Uint8Array(await page.clone().jpeg().toBuffer()));
    images.set('webp-lossy', new Uint8Array(await page.clone().webp().toBuffer()));
    images.set('webp-lossless', new Uint8Array(await page.clone().webp({ lossless: true }).toBuffer()));
    const withAlpha = sharp({ create: { width: 40, height: 30, channels: 4, background: '#f0f0f080' } });
    images.set('webp-extended', new Uint8Array(await withAlpha.webp().toBuffer()));
  });

  const formats = fc.constantFrom<Format>('png', 'jpeg', 'webp-lossy', 'webp-lossless', 'webp-extended');

  it('writes each lie where the decoder reads it (else the next test would prove nothing)', async () => {
    for (const format of images.keys()) {
      const lying = writeDimensions(format, images.get(format) as Uint8Array, 5000, 4000);

      expect(await declared(lying), format).toEqual({ width: 5000, height: 4000 });
    }
  });

  it('refuses a header that claims more pixels than allowed with 413, before decoding a pixel', async () => {
    await fc.assert(
      fc.asyncProperty(
        formats,
        fc.integer({ min: 1, max: 16383 }),
        fc.integer({ min: 1, max: 16383 }),
        async (format, width, height) => {
          fc.pre(width * height > MAX_PIXELS);
          const lying = writeDimensions(format, images.get(format) as Uint8Array, width, height);

          await expect(decodeImage(lying, { maxPixels: MAX_PIXELS })).rejects.toThrow(PayloadTooLargeError);
        },
      ),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(300), timeout: 5000 },
    );
  });

  it('decodes or refuses with a client error any image with lying dimensions, corrupt bytes or a cut', async () => {
    const mutation = fc.record({
      width: fc.oneof(fc.constant(40), fc.integer({ min: 0, max: 600 }), fc.nat()),
      height: fc.oneof(fc.constant(30), fc.integer({ min: 0, max: 600 }), fc.nat()),
      writes: fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { maxLength: 4 }),
      cut: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
    });
    await fc.assert(
      fc.asyncProperty(formats, mutation, async (format, m) => {
        let bytes = writeDimensions(format, images.get(format) as Uint8Array, m.width, m.height);
        for (const { at, byte } of m.writes) bytes[at % bytes.length] = byte;
        if (m.cut !== undefined) bytes = bytes.subarray(0, m.cut % (bytes.length + 1));

        const image = await resultOrRefusalAsync(() => decodeImage(bytes, { maxPixels: MAX_PIXELS }));

        if (image) {
          expect(image.width * image.height).toBeLessThanOrEqual(MAX_PIXELS);
          expect(image.data.length).toBe(image.width * image.height * 3);
        }
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(800), timeout: 5000 },
    );
  });

  it('refuses a JPEG whose declared frame needs more blocks than its scan holds with 422', async () => {
    // The 40×30 page is 3×2 MCUs of 16×16 pixels (4:2:0); a frame of more MCUs runs out of scan data. A
    // frame of 8 rows or fewer is one strip for libvips, written out before it looks at the warning.
    const mcus = (w: number, h: number) => Math.ceil(w / 16) * Math.ceil(h / 16);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 9, max: 2000 }), async (w, h) => {
        fc.pre(w * h <= MAX_PIXELS && mcus(w, h) > mcus(40, 30));
        const lying = writeDimensions('jpeg', images.get('jpeg') as Uint8Array, w, h);

        await expect(decodeImage(lying, { maxPixels: MAX_PIXELS })).rejects.toThrow(UndecodableContentError);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(200), timeout: 5000 },
    );
  });

  it('decodes a flat JPEG of many pixels in few bytes: size alone is no sign of a lie', async () => {
    const flat = await sharp({ create: { width: 500, height: 500, channels: 3, background: '#ffffff' } })
      .jpeg()
      .toBuffer();

    const image = await decodeImage(new Uint8Array(flat), { maxPixels: MAX_PIXELS });

    expect(flat.byteLength).toBeLessThan(3000);
    expect([image.width, image.height]).toEqual([500, 500]);
  });

  it('refuses arbitrary bytes, with or without an image signature, with a client error', async () => {
    const signature = fc.constantFrom(
      [],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52],
      [0xff, 0xd8, 0xff],
      [0x52, 0x49, 0x46, 0x46, 1, 0, 0, 0, 0x57, 0x45, 0x42, 0x50],
      [0x47, 0x49, 0x46, 0x38],
      [0x3c, 0x73, 0x76, 0x67],
    );
    await fc.assert(
      fc.asyncProperty(signature, fc.uint8Array({ maxLength: 200 }), async (head, tail) => {
        const bytes = new Uint8Array([...head, ...tail]);

        const image = await resultOrRefusalAsync(() => decodeImage(bytes, { maxPixels: MAX_PIXELS }));

        if (image) expect(image.width * image.height).toBeLessThanOrEqual(MAX_PIXELS);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(1000), timeout: 5000 },
    );
  });
});
