/**
 * Cold start of Inferlet: from process start, load the OCR task through the model store (the repository
 * and cache dir come from MODEL_REPOSITORY / MODEL_CACHE_DIR) and run one OCR. Prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { imageOcrTask } from '../../functions/image/task.ts';

const image = await readFile(process.argv[2] as string);
const store = createModelStore();
const { runner } = await imageOcrTask.load(store, { name: imageOcrTask.defaultModel });
const { result } = await runner.run({ mediaType: 'image/png', bytes: image });
process.stdout.write(
  `${JSON.stringify({ lines: (result.lines as unknown[]).length, uptimeMs: process.uptime() * 1000 })}\n`,
);
