/**
 * The page to try every task (`GET /`), its assets, the API description (`GET /openapi.json`, rendered at
 * `GET /docs`), the recent latencies of each task (`GET /v1/stats`) and the embedded uploads bucket's list
 * (`GET /v1/uploads`). Mounted by the local server and the GPU container (functions/server/main.ts), never
 * by the Lambda handlers: a function behind API Gateway has no page to show and no process-wide stats.
 */
import { access, readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Hono } from 'hono';
import { NotFoundError, RepositoryUnavailableError } from '../core/errors.ts';
import { openApiDocument } from '../core/http/openapi.ts';
import type { RequestStats } from '../core/http/stats.ts';
import type { InferenceService } from '../core/inference-service.ts';
import { describeError, log } from '../core/log.ts';
import { buildPage, DEFAULT_PAGE_DIR, PAGE_FILES } from './build-page.ts';
import { listUploads } from './uploads-list.ts';

/** Options of {@link mountPage}. */
export interface PageOptions {
  readonly service: InferenceService;
  readonly stats: RequestStats;
  /** The embedded uploads bucket and a client of it; without it `/v1/uploads` answers 404. */
  readonly uploads?: { readonly client: S3Client; readonly bucket: string };
  /** The built page; `dist/web` (from the working directory) by default, built there when missing. */
  readonly pageDir?: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

// The page loads nothing from elsewhere: scripts, styles and API calls from this origin only. Images and
// audio the person chose are shown from blob: URLs. Swagger UI sets inline styles, hence 'unsafe-inline'.
const CSP =
  "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Reads the built page into memory (about 2 MB, most of it Swagger UI), building it first if missing. */
async function loadPage(pageDir: string): Promise<Map<string, Uint8Array>> {
  const dir = resolve(pageDir);
  const missing = await access(join(dir, 'index.html')).then(
    () => false,
    () => true,
  );
  if (missing) {
    log.info('building the page', { dir });
    await buildPage(dir);
  }
  const files = new Map<string, Uint8Array>();
  for (const file of PAGE_FILES) files.set(file, await readFile(join(dir, file)));
  return files;
}

/**
 * Adds the page's routes to `app` (the runtime's HTTP app, so that its error answers and metrics apply).
 * Resolves once the page's files are read; fails when they are missing and cannot be built.
 *
 * @example
 * ```ts
 * const { app, service, stats } = createRuntime({ tasks });
 * await mountPage(app, { service, stats });
 * ```
 */
export async function mountPage(app: Hono, options: PageOptions): Promise<void> {
  const files = await loadPage(options.pageDir ?? DEFAULT_PAGE_DIR);
  const serve = (file: string) => {
    const bytes = files.get(file);
    if (!bytes) throw new NotFoundError(`no file ${JSON.stringify(file.slice(0, 64))}`);
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        // Rebuilt with the code: a browser asks again rather than keep an old page.
        'Cache-Control': 'no-cache',
      },
    });
  };
  const { service, stats } = options;
  const document = openApiDocument({ tasks: service.tasks().map((t) => t.definition), page: true });

  app.get('/', () => serve('index.html'));
  app.get('/assets/:file', (c) => serve(`assets/${c.req.param('file')}`));
  app.get('/docs', () => serve('docs/index.html'));
  app.get('/docs/:file', (c) => serve(`docs/${c.req.param('file')}`));
  app.get('/openapi.json', (c) => c.json(document));
  app.get('/v1/stats', (c) => c.json({ tasks: stats.snapshot() }));
  app.get('/v1/uploads', async (c) => {
    const { uploads } = options;
    if (!uploads) throw new NotFoundError('uploads are listed only with the embedded S3 (EMBEDDED_S3=on)');
    try {
      return c.json(await listUploads(uploads.client, uploads.bucket));
    } catch (error) {
      log.warn('listing uploads failed', describeError(error));
      throw new RepositoryUnavailableError('the uploads bucket cannot be listed now', { cause: error });
    }
  });
}
