/**
 * Builds the page into `dist/web/`: the TypeScript of `web/src/` bundled by esbuild (no CDN: everything it
 * uses comes from npm, bundled), its HTML and CSS, and `/docs`: Swagger UI's own browser bundle copied from
 * `swagger-ui-dist` with a small initializer. `npm ci` runs it (`prepare`); the server runs it at start when
 * the folder is missing; the GPU image runs it in its build stage.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** Where the built page lives unless told otherwise, relative to the working directory (as `models/` is). */
export const DEFAULT_PAGE_DIR = 'dist/web';

/** The files of the built page, relative to its folder, that the server serves. */
export const PAGE_FILES = [
  'index.html',
  'assets/page.js',
  'assets/page.css',
  'docs/index.html',
  'docs/docs.js',
  'docs/swagger-ui-bundle.js',
  'docs/swagger-ui.css',
] as const;

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inferlet API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/docs.js"></script>
</body>
</html>
`;

// A file rather than an inline script, so the page's Content-Security-Policy can forbid inline scripts. No
// validator badge: it would send the description to validator.swagger.io.
const DOCS_JS =
  "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger', deepLinking: true, validatorUrl: null });\n";

/**
 * Builds the page from `source` (the repository root) into `outDir`.
 *
 * @returns the output folder.
 */
export async function buildPage(outDir = DEFAULT_PAGE_DIR, source = '.'): Promise<string> {
  const out = resolve(outDir);
  const root = resolve(source);
  // esbuild is a devDependency: imported only when a build is needed, never by a server that has the page.
  const { build } = await import('esbuild');
  await mkdir(join(out, 'assets'), { recursive: true });
  await mkdir(join(out, 'docs'), { recursive: true });
  await build({
    entryPoints: [join(root, 'web/src/main.ts')],
    outfile: join(out, 'assets/page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    logLevel: 'warning',
  });
  await copyFile(join(root, 'web/index.html'), join(out, 'index.html'));
  await copyFile(join(root, 'web/style.css'), join(out, 'assets/page.css'));
  const swagger = dirname(createRequire(join(root, 'package.json')).resolve('swagger-ui-dist/package.json'));
  for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
    // The bundle ends with a source map comment whose map is not served: drop it, or browsers ask for it.
    const text = await readFile(join(swagger, file), 'utf8');
    await writeFile(
      join(out, 'docs', file),
      text.replace(/\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/, '\n'),
    );
  }
  await writeFile(join(out, 'docs/index.html'), DOCS_HTML);
  await writeFile(join(out, 'docs/docs.js'), DOCS_JS);
  return out;
}
