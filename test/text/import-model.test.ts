import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../functions/core/model-store/manifest.ts';
import { importModel } from '../../scripts/import-model.ts';
import { rewriteGraph, writeBertExport } from '../support/bert-model.ts';

const run = promisify(execFile);
let directory: string;
let counter = 0;

/** A fresh export folder of a small classifier (or encoder), changed by `change` where given. */
async function exportFolder(
  head: 'classifier' | 'encoder' = 'classifier',
  change?: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = join(directory, `export-${counter++}`);
  await writeBertExport(dir, { head, labels: 3, labelNames: ['bad', 'meh', 'good'] });
  await change?.(dir);
  return dir;
}

/** Rewrites the export's graph. */
function graphChange(change: (graph: onnxProto.onnx.IGraphProto) => void) {
  return async (dir: string) => {
    const path = join(dir, 'model.onnx');
    await writeFile(path, rewriteGraph(await readFile(path), change));
  };
}

const repository = () => join(directory, 'repository');

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'inferlet-import-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('npm run models:import', () => {
  it('writes a repository entry with the labels, the maximum length, the tokenizer files and the sha256 of every file', async () => {
    const from = await exportFolder();

    const report = await importModel(['--from', from, '--name', 'reviews', '--repository', repository()]);

    expect(report).toMatchObject({ name: 'reviews', version: '1', task: 'text/classify' });
    const folder = join(repository(), 'reviews', '1');
    const manifest = parseManifest(JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')), 'test');
    expect(manifest.transformer).toEqual({
      tokenizer: 'tokenizer.json',
      tokenizerConfig: 'tokenizer_config.json',
      maxLength: 32,
      tokenTypeIds: true,
      output: 'logits',
      labels: ['bad', 'meh', 'good'],
      problemType: 'single_label_classification',
    });
    expect(manifest.inputs.map((i) => `${i.name} ${i.datatype} ${i.dims}`)).toEqual([
      'input_ids INT64 -1,-1',
      'attention_mask INT64 -1,-1',
      'token_type_ids INT64 -1,-1',
    ]);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(
      [
        'config.json',
        'model.onnx',
        'special_tokens_map.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ].sort(),
    );
    for (const file of manifest.files) {
      const bytes = await readFile(join(folder, file.path));
      expect(file.sha256, file.path).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(file.bytes).toBe(bytes.byteLength);
    }
  });

  it('takes the next version by default and refuses to overwrite a version', async () => {
    const from = await exportFolder();
    await importModel(['--from', from, '--name', 'versions', '--repository', repository()]);

    const second = await importModel(['--from', from, '--name', 'versions', '--repository', repository()]);
    const again = importModel([
      '--from',
      from,
      '--name',
      'versions',
      '--version',
      '2',
      '--repository',
      repository(),
    ]);

    expect(second.version).toBe('2');
    await expect(again).rejects.toThrow('versions/2 exists; versions are immutable');
  });

  it('imports an encoder for text/embed with mean pooling over last_hidden_state, from onnx/model.onnx', async () => {
    const dir = join(directory, 'hub-layout');
    await writeBertExport(dir, { head: 'encoder', modelPath: 'onnx/model.onnx', tokenTypes: false });

    const report = await importModel(['--from', dir, '--name', 'minilm', '--repository', repository()]);

    const manifest = JSON.parse(await readFile(join(repository(), 'minilm', '1', 'manifest.json'), 'utf8'));
    expect(report.task).toBe('text/embed');
    expect(manifest.transformer).toMatchObject({
      output: 'last_hidden_state',
      pooling: 'mean',
      normalize: true,
      tokenTypeIds: false,
    });
  });

  it.each([
    [
      'the attention mask input',
      graphChange((g) => {
        g.input = (g.input ?? []).filter((i) => i.name !== 'attention_mask');
      }),
      'the graph has no input "attention_mask"',
    ],
    [
      'int64 token ids',
      graphChange((g) => {
        const ids = g.input?.find((i) => i.name === 'input_ids');
        if (ids?.type?.tensorType) ids.type.tensorType.elemType = onnxProto.onnx.TensorProto.DataType.INT32;
      }),
      'input "input_ids" is INT32; it must be INT64',
    ],
    [
      'only inputs a tokenizer gives',
      graphChange((g) => {
        g.input?.push({ ...(g.input[0] as object), name: 'position_ids' });
      }),
      'the graph needs input "position_ids", which a tokenizer does not give',
    ],
    [
      'a logits output',
      graphChange((g) => {
        for (const o of g.output ?? []) o.name = 'scores';
      }),
      'the graph has no output "logits" [batch, labels]',
    ],
    [
      'as many labels as logits',
      async (dir: string) => {
        const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
        config.id2label = { 0: 'bad', 1: 'good' };
        await writeFile(join(dir, 'config.json'), JSON.stringify(config));
      },
      'output "logits" has 3 classes but config.json\'s id2label names 2',
    ],
    [
      'id2label',
      async (dir: string) => {
        const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
        delete config.id2label;
        await writeFile(join(dir, 'config.json'), JSON.stringify(config));
      },
      'config.json has no "id2label"',
    ],
    ['tokenizer.json', (dir: string) => unlink(join(dir, 'tokenizer.json')), 'has no tokenizer.json'],
    [
      'its weights inside the graph',
      graphChange((g) => {
        const weights = g.initializer?.find((t) => t.name === 'word_embeddings');
        if (weights) {
          weights.rawData = new Uint8Array(0);
          weights.dataLocation = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
          weights.externalData = [{ key: 'location', value: 'model.onnx_data' }];
        }
      }),
      'model.onnx keeps its weights in an external data file',
    ],
  ])('refuses a classifier without %s, naming it', async (_, change, message) => {
    const from = await exportFolder('classifier', change);

    const imported = importModel(['--from', from, '--name', 'refused', '--repository', repository()]);

    await expect(imported).rejects.toThrow(message);
  });

  it('refuses an encoder without token vectors for text/embed', async () => {
    const from = await exportFolder('classifier');

    const imported = importModel([
      '--from',
      from,
      '--name',
      'refused',
      '--task',
      'text/embed',
      '--repository',
      repository(),
    ]);

    await expect(imported).rejects.toThrow('the graph has no output "last_hidden_state"');
  });

  it('exits 1 with every problem on stderr and writes nothing', async () => {
    const from = await exportFolder(
      'classifier',
      graphChange((g) => {
        g.input = (g.input ?? []).filter((i) => i.name !== 'attention_mask');
        for (const o of g.output ?? []) o.name = 'scores';
      }),
    );

    const ran = await run(process.execPath, [
      '--import',
      'tsx',
      'scripts/import-model.ts',
      '--from',
      from,
      '--name',
      'cli',
      '--repository',
      repository(),
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );

    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain('the graph has no input "attention_mask"');
    expect(ran.stderr).toContain('the graph has no output "logits"');
    await expect(readFile(join(repository(), 'cli', '1', 'manifest.json'))).rejects.toThrow('ENOENT');
  });
});
