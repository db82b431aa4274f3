import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { spamSample, writeJsonl } from '../support/text-models.ts';

const run = promisify(execFile);

describe('npm run train:text with the generalisation options', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferlet-train-cli-'));
    const { train, test } = await spamSample(40);
    await writeJsonl(join(dir, 'train.jsonl'), train);
    await writeJsonl(join(dir, 'validation.jsonl'), test);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const trainText = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'scripts/train-text.ts', ...args], {
      env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true' },
    });

  it('writes the clean-up, the regularisation and the decision threshold into the model it trains', async () => {
    const out = join(dir, 'repository');

    await trainText(
      ...['--data', join(dir, 'train.jsonl'), '--validation', join(dir, 'validation.jsonl')],
      ...['--name', 'm', '--out', out, '--dim', '8', '--buckets', '16384', '--char-ngrams', '0'],
      ...['--clean-mail', '--dropout', '0.5', '--max-df', '0.3', '--class-weights', 'ham=2'],
      ...['--threshold', 'spam:0.05'],
    );

    const version = join(out, 'm', '1');
    const manifest = parseManifest(
      JSON.parse(await readFile(join(version, 'manifest.json'), 'utf8')),
      'test',
    );
    const featurizer = JSON.parse(await readFile(join(version, 'featurizer.json'), 'utf8'));
    expect(featurizer).toMatchObject({ version: 2, cleanMail: true });
    expect(manifest.parameters?.training).toMatchObject({
      dropout: 0.5,
      maxDocumentFrequency: 0.3,
      classWeights: [2, 1],
    });
    expect(manifest.decision?.label).toBe('spam');
    expect(manifest.decision?.threshold).toBeGreaterThanOrEqual(0.5);
  });

  it('refuses class weights of a label the data does not have, exit 2', async () => {
    const failed = trainText(
      '--data',
      join(dir, 'train.jsonl'),
      '--name',
      'm',
      '--out',
      join(dir, 'x'),
      '--class-weights',
      'hamm=2',
    );

    await expect(failed).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--class-weights/) });
  });
});
