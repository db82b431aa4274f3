import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPage } from '../../functions/web/build-page.ts';
import { freePort } from '../support/free-port.ts';
import { type LocalServer, startLocalServer } from '../support/local-server.ts';
import { renderText, stackLines } from '../support/render-text.ts';
import { compose, SCRIPTS, wavOf } from '../support/spoken-audio.ts';
import { type Browser, chromiumAvailable, launchChromium } from './chromium.ts';

/** Screenshots of each run, kept as artifacts (git-ignored). */
const ARTIFACTS = resolve('test-artifacts/browser');
/** The README's screenshots, rewritten when `UPDATE_SCREENSHOTS=1`. */
const README_SCREENSHOTS = resolve('docs/screenshots');

/** Keeps a screenshot of `selector`, or of the viewport, as an artifact (and for the README when asked). */
async function keep(page: Page, name: string, selector?: string): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path });
  else await page.screenshot({ path });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    // A palette PNG: a third of the size, and the README's pictures stay small in the repository.
    await sharp(path)
      .png({ palette: true, quality: 90, effort: 10 })
      .toFile(join(README_SCREENSHOTS, `${name}.png`));
  }
}

describe.skipIf(!chromiumAvailable())('the page, in headless chromium against npm start', () => {
  let directory: string;
  let server: LocalServer;
  let browser: Browser;
  let base: string;
  let files: { page: string; wav: string };

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'inferlet-browser-'));
    await mkdir(ARTIFACTS, { recursive: true });
    await mkdir(README_SCREENSHOTS, { recursive: true });
    // The page as the sources say now, not as an earlier build left it.
    await buildPage();
    const [port, s3Port] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    const scan = await renderText({
      width: 720,
      height: 260,
      lines: stackLines([
        { text: 'invoice number 4821', fontSize: 34 },
        { text: 'total due 77.50', fontSize: 34 },
        { text: 'paid by card', fontSize: 34 },
      ]),
    });
    files = { page: join(directory, 'scan.png'), wav: join(directory, 'meeting.wav') };
    await writeFile(files.page, scan);
    await writeFile(files.wav, wavOf(await compose(SCRIPTS.meeting), { rate: 16000 }));
    [server, browser] = await Promise.all([
      startLocalServer({
        directory,
        port,
        s3Port,
        env: { TASKS: 'image/ocr,text/classify,speech/vad', LOG_LEVEL: 'silent' },
      }),
      launchChromium(),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  /** Requests a page made anywhere but its own server: none, as nothing may come from a CDN. */
  const foreign: string[] = [];
  const watched = async (): Promise<Page> => {
    const page = await browser.context.newPage();
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(`${base}/`) && !/^(blob|data):/.test(url)) foreign.push(url);
    });
    return page;
  };

  const open = async (): Promise<Page> => {
    const page = await watched();
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  };

  /** The JSON answer the page shows under "JSON". */
  // biome-ignore lint/suspicious/noExplicitAny: the test reads the answer field by field.
  const shownJson = async (page: Page, section: string): Promise<any> =>
    JSON.parse((await page.locator(`#${section}-answer details.json pre`).textContent()) ?? 'null');

  it('draws one box over the image for each line read, with the text beside it', async () => {
    const page = await open();

    await page.setInputFiles('#image-file', files.page);
    await page.waitForSelector('#image-lines li[data-line]');

    const answer = await shownJson(page, 'image');
    expect(answer.lines.map((l: { text: string }) => l.text)).toEqual([
      'invoice number 4821',
      'total due 77.50',
      'paid by card',
    ]);
    await expect(page.locator('svg.boxes polygon.ocr-box').count()).resolves.toBe(answer.lines.length);
    await expect(page.locator('#image-lines .line-text').allTextContents()).resolves.toEqual([
      'invoice number 4821',
      'total due 77.50',
      'paid by card',
    ]);
    // Confidence on hover: the box's tooltip and the line's title name it.
    await expect(page.locator('polygon.ocr-box title').first().textContent()).resolves.toMatch(
      /^invoice number 4821 — confidence \d+\.\d%$/,
    );
    await expect(page.locator('#image-answer .stage-legend li').allTextContents()).resolves.toEqual(
      expect.arrayContaining([expect.stringMatching(/^inference \d/), expect.stringMatching(/^total \d/)]),
    );
    await keep(page, 'image', '#image');
    await page.close();
  });

  it('colours the tokens of a message toward and against its label', async () => {
    const page = await open();

    await page.fill(
      '#text-input',
      'WIN a FREE cruise!!! Click now to claim your CASH prize, lunch on Thursday?',
    );
    await page.click('#text-form button[type=submit]');
    await page.waitForSelector('#text-tokens mark.token');

    const answer = await shownJson(page, 'text');
    const [result] = answer.results;
    await expect(page.locator('#text-label strong').textContent()).resolves.toBe(result.label);
    const toward = result.explanation.tokens.filter((t: { contribution: number }) => t.contribution > 0);
    expect(toward.length).toBeGreaterThan(0);
    expect(await page.locator('#text-tokens mark.toward').count()).toBeGreaterThan(0);
    // Every coloured word is one the explanation names (alone or in a pair), with the sign it gives.
    const named = new Set(result.explanation.tokens.flatMap((t: { token: string }) => t.token.split(' ')));
    for (const mark of await page.locator('#text-tokens mark.token').all()) {
      expect(named.has(((await mark.textContent()) ?? '').toLowerCase())).toBe(true);
    }
    await keep(page, 'text', '#text');
    await page.close();
  });

  it('shades each speech segment over the waveform and plays one when clicked', async () => {
    const page = await open();

    await page.setInputFiles('#speech-file', files.wav);
    await page.waitForSelector('#speech-wave button.segment');

    const answer = await shownJson(page, 'speech');
    expect(answer.segments).toHaveLength(2);
    const segments = page.locator('#speech-wave button.segment');
    await expect(segments.count()).resolves.toBe(answer.segments.length);
    await expect(segments.first().getAttribute('aria-label')).resolves.toBe(
      `Play speech from ${answer.segments[0].start.toFixed(2)} s to ${answer.segments[0].end.toFixed(2)} s`,
    );
    // The shaded area sits where the segment is: its left edge at start / duration of the wave's width.
    const wave = await page.locator('#speech-wave').boundingBox();
    const first = await segments.first().boundingBox();
    expect(wave && first).toBeTruthy();
    if (wave && first) {
      expect((first.x - wave.x) / wave.width).toBeCloseTo(answer.segments[0].start / answer.duration, 1);
    }
    await segments.first().click();
    await expect(page.locator('#speech-error').isHidden()).resolves.toBe(true);
    await keep(page, 'speech', '#speech');
    await page.close();
  });

  it("shows the API's own error message when a request is refused", async () => {
    const page = await open();
    const direct = await fetch(`${base}/v1/image/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'image/gif' },
      body: 'GIF89a',
    });
    const expected = ((await direct.json()) as { error: string }).error;

    await page.setInputFiles('#image-file', {
      name: 'a.gif',
      mimeType: 'image/gif',
      buffer: Buffer.from('GIF89a'),
    });
    await page.waitForSelector('#image-error:not([hidden])');

    expect(direct.status).toBe(415);
    await expect(page.locator('#image-error').textContent()).resolves.toBe(expected);
    await expect(page.locator('#image-error').getAttribute('role')).resolves.toBe('alert');
    await page.close();
  });

  it("charts each task's p50 and p95 latency from the server's recent requests", async () => {
    const page = await open();

    await page.click('#text-form button[type=submit]');
    // A point per 10-second bucket: one request makes one p50 and one p95 dot.
    await page.waitForSelector('.chart[data-task="text/classify"] circle.dot.p95', { state: 'attached' });

    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as {
      tasks: Record<string, { count: number; p50: number }>;
    };
    expect(stats.tasks['text/classify']?.count).toBeGreaterThan(0);
    await expect(page.locator('.chart[data-task="text/classify"] figcaption').textContent()).resolves.toMatch(
      /^Latency of text\/classify, last \d+ requests: p50 [\d.]+ m?s, p95 [\d.]+ m?s/,
    );
    await page.close();
  });

  it("lists the embedded bucket's uploads with their result or error", async () => {
    await server.s3.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'incoming/text/hello.txt', Body: 'Lunch on Thursday?' }),
    );
    await server.s3.send(
      new PutObjectCommand({ Bucket: 'uploads', Key: 'incoming/image/broken.png', Body: 'not a png' }),
    );
    const page = await open();

    const row = (key: string) => page.locator('#uploads-table tbody tr', { hasText: key });
    await expect
      .poll(async () => (await row('incoming/text/hello.txt').textContent()) ?? '', {
        timeout: 30_000,
        interval: 1000,
      })
      .toContain('results/text/hello.txt.json');
    await expect
      .poll(async () => (await row('incoming/image/broken.png').getAttribute('class')) ?? '', {
        timeout: 30_000,
        interval: 1000,
      })
      .toBe('failed');
    await expect(row('incoming/image/broken.png').locator('td').nth(3).textContent()).resolves.not.toBe('');
    await keep(page, 'uploads', '#uploads');
    await page.close();
  });

  it('names every control and fits a 375 px wide screen without sideways scrolling', async () => {
    const page = await open();
    await page.setViewportSize({ width: 375, height: 800 });

    // Run in the page (as text: the tests are compiled without the DOM's types).
    const unnamed = await page.evaluate<string[]>(`
      [...document.querySelectorAll('input, textarea, button, select')]
        .filter((e) => !e.hidden && !e.labels?.length && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map((e) => e.outerHTML)`);
    expect(unnamed).toEqual([]);
    await page.setInputFiles('#image-file', files.page);
    await page.waitForSelector('#image-lines li[data-line]');
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    // Keyboard: the first Tab stops are the navigation's links, then the image's file input.
    const stops: string[] = [];
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press('Tab');
      stops.push(
        await page.evaluate<string>('document.activeElement?.id || document.activeElement?.tagName'),
      );
    }
    expect(stops.at(-1)).toBe('image-file');
    await keep(page, 'mobile');
    await page.close();
  });

  it('renders the OpenAPI description at /docs with every route', async () => {
    const page = await watched();
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };

    await page.goto(`${base}/docs`);
    await page.waitForSelector('.opblock');

    const shown = await page.locator('.opblock-summary-path').allTextContents();
    const paths = new Set(shown.map((p) => p.replace(/\u200b/g, '')));
    expect([...paths].sort()).toEqual(Object.keys(document.paths).sort());
    await keep(page, 'docs');
    await page.close();
  });

  it('loads nothing from anywhere but its own server', () => {
    // After every test above: the page, its answers, the uploads and /docs.
    expect(foreign).toEqual([]);
  });
});
