import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchPolicy, RunCostModel } from '../../functions/image/batch-policy.ts';
import { decodeImage } from '../../functions/image/decode-image.ts';
import { type OcrLine, type OcrModels, OcrPipeline } from '../../functions/image/ocr-pipeline.ts';
import { loadOcrModels } from '../support/ocr-models.ts';
import { RECEIPT_LINES, renderReceipt, renderText, stackLines } from '../support/render-text.ts';

// Lower-case words and digits: PP-OCRv4 reads them reliably, whereas it tends to drop the spaces between
// capitalised words, which would make exact assertions flaky for reasons that are not this code's.
const firstLine = 'the quick brown fox';
const secondLine = 'sells 1234 red apples';

/** Axis-aligned extent of a box: [left, top, right, bottom]. */
function extent(line: OcrLine): [number, number, number, number] {
  const xs = line.box.map((p) => p[0]);
  const ys = line.box.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** Bounding box of the dark pixels of an encoded image. */
async function inkExtent(bytes: Uint8Array): Promise<[number, number, number, number]> {
  const { data, info } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
  let [left, top, right, bottom] = [info.width, info.height, -1, -1];
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if ((data[y * info.width + x] as number) < 128) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  return [left, top, right, bottom];
}

describe('OcrPipeline', () => {
  let models: OcrModels;
  let ocr: OcrPipeline;

  beforeAll(async () => {
    models = await loadOcrModels();
    ocr = await OcrPipeline.create(models);
  });

  it('reads two lines of rendered text in reading order', async () => {
    const png = await renderText({
      width: 640,
      height: 200,
      lines: stackLines([
        { text: firstLine, fontSize: 40 },
        { text: secondLine, fontSize: 40 },
      ]),
    });

    const result = await ocr.run(png);

    expect(result.text).toBe(`${firstLine}\n${secondLine}`);
    expect(result.lines.map((l) => l.text)).toEqual([firstLine, secondLine]);
    expect(result.lines.every((l) => l.confidence > 0.8 && l.confidence <= 1)).toBe(true);
    expect(result).toMatchObject({ width: 640, height: 200 });
  });

  // Batched lines are zero-padded to the run's width, and the recogniser's SVTR neck attends across the whole
  // width: fp32 confidences move by less than 0.005, the int8 variant's (the CPU default) by up to ~0.04.
  it.each([
    ['fp32', 2],
    ['int8', 1],
  ] as const)(
    'reads the same lines whether the recogniser (%s) and classifier take them one at a time or batched',
    async (variant, digits) => {
      const texts = RECEIPT_LINES;
      const png = await renderReceipt();
      const models = await loadOcrModels({ variant });
      expect(models.recognizer.variant).toBe(variant);
      // A cost shape where one run costs the same whatever it holds: every line shares one run.
      const batched = new BatchPolicy(
        new RunCostModel([
          { lines: 1, width: 320, ms: 20 },
          { lines: 64, width: 320, ms: 20 },
        ]),
        'flat',
      );
      const single = BatchPolicy.oneLineAtATime();

      const [one, many] = await Promise.all([
        OcrPipeline.create(models, { recPolicy: single, clsPolicy: single }).then((p) => p.run(png)),
        OcrPipeline.create(models, { recPolicy: batched, clsPolicy: batched }).then((p) => p.run(png)),
      ]);

      expect(one.lines.map((l) => l.text)).toEqual(texts);
      expect(many.lines.map((l) => l.text)).toEqual(texts);
      for (const [i, line] of one.lines.entries()) {
        expect(line.confidence).toBeCloseTo(many.lines[i]?.confidence ?? 0, digits);
      }
    },
  );

  it('reads the same lines with the recogniser as a pool of one-thread copies as with one copy', async () => {
    const png = await renderReceipt();
    const single = BatchPolicy.oneLineAtATime();

    const [pooled, one] = await Promise.all([
      OcrPipeline.create(models, { recPolicy: single, recognizerCopies: 2 }),
      OcrPipeline.create(models, { recPolicy: single, recognizerCopies: 1 }),
    ]);
    await pooled.ready;
    const [a, b] = await Promise.all([pooled.run(png), one.run(png)]);

    expect(a.lines.map((l) => l.text)).toEqual(RECEIPT_LINES);
    expect(b.lines.map((l) => l.text)).toEqual(RECEIPT_LINES);
    for (const [i, line] of a.lines.entries()) {
      expect(line.confidence).toBeCloseTo(b.lines[i]?.confidence ?? 0, 3);
    }
    // The pool's runs overlap: inference is counted once for the time any run was under way.
    expect(a.timings.inference).toBeLessThanOrEqual(a.timings.total);
  });

  it('reads several lines in two font sizes', async () => {
    const texts = [
      { text: 'invoice number 4711', fontSize: 48 },
      { text: 'total amount due 99.50', fontSize: 24 },
      { text: 'thank you for shopping', fontSize: 24 },
      { text: 'see you soon', fontSize: 48 },
    ];
    const png = await renderText({ width: 900, height: 400, lines: stackLines(texts) });

    const result = await ocr.run(png);

    expect(result.lines.map((l) => l.text)).toEqual(texts.map((t) => t.text));
  });

  it('reads a page turned upside down with its text and order right', async () => {
    const texts = ['first line of the page', 'second line 2468', 'third and last line'];
    const png = await renderText({
      width: 700,
      height: 260,
      rotate: 180,
      lines: stackLines(texts.map((text) => ({ text, fontSize: 34 }))),
    });

    const result = await ocr.run(png);

    expect(result.text).toBe(texts.join('\n'));
    // The box starts at the text's own top-left, which is the image's bottom-right on a turned page.
    const [topLeft, , bottomRight] = (result.lines[0] as OcrLine).box;
    expect(topLeft[0]).toBeGreaterThan(bottomRight[0]);
    expect(topLeft[1]).toBeGreaterThan(bottomRight[1]);
  });

  it('reads a JPEG', async () => {
    const jpeg = await renderText({
      width: 600,
      height: 120,
      format: 'jpeg',
      lines: stackLines([{ text: 'jpeg photo 2025', fontSize: 40 }]),
    });

    const result = await ocr.run(jpeg);

    expect(result.text).toBe('jpeg photo 2025');
  });

  it('reads a WebP', async () => {
    const webp = await renderText({
      width: 600,
      height: 120,
      format: 'webp',
      lines: stackLines([{ text: 'webp picture 808', fontSize: 40 }]),
    });

    const result = await ocr.run(webp);

    expect(result.text).toBe('webp picture 808');
  });

  it('reports boxes in the coordinates of the original image', async () => {
    // Larger than the detector's 960-pixel limit, so boxes are scaled back from a smaller map.
    const png = await renderText({
      width: 1600,
      height: 1200,
      lines: [{ text: 'offset text 2468', x: 900, y: 840, fontSize: 44 }],
    });
    const [inkLeft, inkTop, inkRight, inkBottom] = await inkExtent(png);

    const result = await ocr.run(png);

    expect(result.lines.map((l) => l.text)).toEqual(['offset text 2468']);
    const [left, top, right, bottom] = extent(result.lines[0] as OcrLine);
    expect(left).toBeLessThanOrEqual(inkLeft);
    expect(top).toBeLessThanOrEqual(inkTop);
    expect(right).toBeGreaterThanOrEqual(inkRight);
    expect(bottom).toBeGreaterThanOrEqual(inkBottom);
    // Contains the text with a margin, not the page.
    expect(inkLeft - left).toBeLessThan(40);
    expect(inkTop - top).toBeLessThan(40);
    expect(right - inkRight).toBeLessThan(40);
    expect(bottom - inkBottom).toBeLessThan(40);
  });

  it('refuses a batch size that would never finish', async () => {
    await expect(OcrPipeline.create(models, { recBatchSize: 0 })).rejects.toThrow(/recBatchSize/);
  });

  it('finds no lines in an empty white image', async () => {
    const png = await renderText({ width: 500, height: 300, lines: [] });

    const result = await ocr.run(png);

    expect(result.lines).toEqual([]);
    expect(result.text).toBe('');
  });

  it('reads an image decoded beforehand and times every stage', async () => {
    const image = await decodeImage(
      await renderText({
        width: 500,
        height: 100,
        lines: stackLines([{ text: 'timed run 42', fontSize: 36 }]),
      }),
    );

    const result = await ocr.run(image);

    expect(result.text).toBe('timed run 42');
    const { decode, preprocess, inference, postprocess, total } = result.timings;
    expect(decode).toBe(0);
    expect(preprocess).toBeGreaterThan(0);
    expect(inference).toBeGreaterThan(0);
    expect(postprocess).toBeGreaterThan(0);
    expect(total).toBeGreaterThanOrEqual(preprocess + inference + postprocess - 0.05);
  });

  it.each([
    [270, 'up'],
    [90, 'down'],
  ] as const)('reads a line turned by %i degrees, running %s the page', async (rotate, _direction) => {
    const sideways = await renderText({
      width: 600,
      height: 120,
      rotate,
      lines: stackLines([{ text: 'vertical words 77', fontSize: 40 }]),
    });

    const result = await ocr.run(sideways);

    expect(result).toMatchObject({ width: 120, height: 600 });
    expect(result.text).toBe('vertical words 77');
  });
});
