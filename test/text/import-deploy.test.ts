import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, mergeConfig, parseConfig } from '../../infra/config/index.ts';
import { LAMBDA_TMP_BYTES, lambdaMemoryNeededMb, resolveDeployment } from '../../infra/deployment.ts';
import { importModel } from '../../scripts/import-model.ts';
import { writeBertExport } from '../support/bert-model.ts';

let directory: string;
const repository = () => join(directory, 'repository');

/** A deployment of the text task alone, on Lambda, serving `model` with the memory given. */
function textOnly(model: string, memoryMb = 1024) {
  return parseConfig(
    mergeConfig(DEFAULT_CONFIG, {
      tasks: {
        image: null,
        speech: null,
        text: { lambda: { model: { name: model }, http: { memoryMb }, upload: { memoryMb } } },
      },
    }),
  );
}

/**
 * Declares the files of `name@1` to weigh `bytes` in all, most of it the graph (the deploy reads manifests,
 * not weights).
 */
async function declareWeights(name: string, bytes: number): Promise<void> {
  const path = join(repository(), name, '1', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  const files = manifest.files as { path: string; bytes: number }[];
  const others = files.filter((f) => f.path !== 'model.onnx').reduce((sum, f) => sum + f.bytes, 0);
  for (const file of files) if (file.path === 'model.onnx') file.bytes = bytes - others;
  await writeFile(path, JSON.stringify(manifest));
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'inferlet-import-deploy-'));
  await writeBertExport(join(directory, 'export'), { head: 'classifier', labels: 2 });
  for (const name of ['small', 'large', 'huge']) {
    await importModel(['--from', join(directory, 'export'), '--name', name, '--repository', repository()]);
  }
  await declareWeights('large', 700 * 1024 * 1024);
  await declareWeights('huge', 5 * 1024 * 1024 * 1024);
  await declareWeights('small', 300 * 1024 * 1024);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('deploying an imported model', () => {
  it('serves an imported classifier on the text task as MODEL_TEXT_CLASSIFY=<name>@<version>', () => {
    const deployment = resolveDeployment(
      textOnly('small', lambdaMemoryNeededMb(300 * 1024 * 1024)),
      repository(),
    );

    expect(deployment.tasks).toHaveLength(1);
    expect(deployment.tasks[0]).toMatchObject({
      task: 'text/classify',
      modelVariable: 'MODEL_TEXT_CLASSIFY',
      lambda: { model: { ref: 'small@1', variant: 'fp32', served: ['small'] } },
    });
  });

  it('refuses at synthesis a memory too small for the model, naming the memory it needs', () => {
    const resolve = () => resolveDeployment(textOnly('small', 512), repository());

    expect(resolve).toThrow(
      `tasks.text.lambda.http.memoryMb: 512 MB cannot hold model small@1 (fp32, 300 MB; a session needs about twice its weights plus 256 MB, 856 MB): raise memoryMb to 856 or more`,
    );
  });

  it("refuses a model larger than a Lambda function's /tmp and points at the GPU tier", () => {
    const resolve = () => resolveDeployment(textOnly('large', 10_240), repository());

    expect(resolve).toThrow(
      `model large@1 (fp32) is 700 MB of files, more than a Lambda function's /tmp (${LAMBDA_TMP_BYTES / 1024 / 1024} MB)`,
    );
    expect(resolve).toThrow(
      'serve it from the GPU tier instead (tasks.text.gpu, with tasks.text.lambda null)',
    );
  });

  it('deploys the default configuration unchanged: the shipped models fit their functions', () => {
    const deployment = resolveDeployment(DEFAULT_CONFIG, 'models');

    expect(deployment.tasks.map((t) => t.lambda?.model.ref)).toEqual([
      'ppocr-v4@3',
      'spam-fasttext@2',
      'silero-vad@1',
    ]);
  });
});
