/**
 * Builds the page (`GET /`) and the API docs (`GET /docs`) into `dist/web/` (see functions/web/build-page.ts).
 *
 *   tsx scripts/build-web.ts [outDir]
 */
import { buildPage } from '../functions/web/build-page.ts';

const started = performance.now();
const out = await buildPage(process.argv[2]);
process.stdout.write(`page built in ${out} (${Math.round(performance.now() - started)} ms)\n`);
