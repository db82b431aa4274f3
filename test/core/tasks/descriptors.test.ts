import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ALL_TASKS,
  DEFAULT_TASK_NAMES,
  TASK_DESCRIPTORS,
  TASK_NAMES,
  taskDescriptor,
  taskOfUpload,
  uploadPathOf,
} from '../../../functions/core/tasks/descriptors.ts';
import { parseIncomingKey } from '../../../functions/core/uploads/upload-keys.ts';
import { LAMBDA_ENTRIES } from '../../../scripts/bundle.ts';

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The relative modules a source file imports (its `import … from './x.ts'` and `export … from`). */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1] as string);
}

describe('the task descriptors', () => {
  it('name each task once, under its own name, with a route, a key and Lambda entries of its own', () => {
    const routes = ALL_TASKS.map((task) => task.route);
    const keys = ALL_TASKS.map((task) => task.key);
    const entries = ALL_TASKS.flatMap((task) => [task.entries.http, task.entries.upload]);

    expect(Object.entries(TASK_DESCRIPTORS).every(([name, task]) => task.name === name)).toBe(true);
    expect([...ALL_TASKS.map((task) => task.name)].sort()).toEqual([...TASK_NAMES].sort());
    expect(new Set(routes).size).toBe(routes.length);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(entries).size).toBe(entries.length);
    for (const task of ALL_TASKS) {
      expect(task.route).toBe(`/v1/${task.name}`);
      expect(task.name.startsWith(`${task.modality}/`)).toBe(true);
    }
  });

  it('point at Lambda entry files that exist and export a handler, which the bundler builds', () => {
    for (const task of ALL_TASKS) {
      for (const entry of [task.entries.http, task.entries.upload]) {
        expect(existsSync(entry), entry).toBe(true);
        expect(readFileSync(entry, 'utf8'), entry).toMatch(/^export const handler = /m);
      }
      expect(LAMBDA_ENTRIES[task.key]).toBe(task.entries.http);
      expect(LAMBDA_ENTRIES[`${task.key}-uploads`]).toBe(task.entries.upload);
    }
    expect(Object.keys(LAMBDA_ENTRIES)).toHaveLength(2 * ALL_TASKS.length);
  });

  it('give each modality exactly one default task for uploads that name none', () => {
    const modalities = [...new Set(ALL_TASKS.map((task) => task.modality))];

    for (const modality of modalities) {
      const defaults = ALL_TASKS.filter((task) => task.modality === modality && task.modalityDefault);
      expect(
        defaults.map((task) => task.name),
        modality,
      ).toHaveLength(1);
    }
    expect(uploadPathOf(TASK_DESCRIPTORS['text/classify'])).toBe('text');
    expect(uploadPathOf(TASK_DESCRIPTORS['text/embed'])).toBe('text/embed');
  });

  it('serve by default the tasks whose model ships, and fail on an unknown name with the valid ones', () => {
    expect(DEFAULT_TASK_NAMES).toEqual(['image/ocr', 'speech/vad', 'text/classify']);
    expect(() => taskDescriptor('image/ocr ')).toThrow(
      'unknown task "image/ocr "; valid tasks: image/ocr, speech/vad, text/classify, text/embed',
    );
  });

  it('import only constants of their own folder, so the CDK app and the bundler load no pipeline', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of relativeImports(file)) {
        expect(specifier.startsWith('./'), `${file} imports ${specifier}`).toBe(true);
        visit(join(file, '..', specifier));
      }
    };

    visit('functions/core/tasks/descriptors.ts');

    expect([...seen].sort()).toEqual([
      'functions/core/tasks/descriptors.ts',
      'functions/core/tasks/media-types.ts',
    ]);
  });

  it('hold each route string once across functions/, infra/, scripts/ and layers/', () => {
    const code = ['functions', 'infra', 'scripts', 'layers'].flatMap(sources).map((file) => ({
      file,
      text: readFileSync(file, 'utf8'),
    }));

    for (const { route } of ALL_TASKS) {
      const holders = code.filter(({ text }) => text.includes(`'${route}'`)).map(({ file }) => file);
      expect(holders, route).toEqual(['functions/core/tasks/descriptors.ts']);
    }
  });
});

describe('routing an upload key to its task', () => {
  it.each([
    ['text/embed/notes.txt', 'text/embed', 'notes.txt'],
    ['text/classify/mail.txt', 'text/classify', 'mail.txt'],
    ['text/mail.txt', 'text/classify', 'mail.txt'],
    ['text/2026/mail.txt', 'text/classify', '2026/mail.txt'],
    ['text/embed', 'text/classify', 'embed'],
    ['image/ocr/scan.png', 'image/ocr', 'scan.png'],
    ['image/scans/a.png', 'image/ocr', 'scans/a.png'],
    ['speech/call.wav', 'speech/vad', 'call.wav'],
  ])('sends incoming/%s to %s as the file %s', (path, task, name) => {
    expect(taskOfUpload(path)).toEqual({
      task: TASK_DESCRIPTORS[task as keyof typeof TASK_DESCRIPTORS],
      name,
    });
  });

  it('matches a task segment only by its exact registry name, never as a pattern or a path', () => {
    expect(taskOfUpload('text/Embed/a.txt')?.task.name).toBe('text/classify');
    expect(taskOfUpload('text/embed./a.txt')?.task.name).toBe('text/classify');
    expect(taskOfUpload('image/../text/embed/a.txt')?.task.name).toBe('image/ocr');
    expect(taskOfUpload('video/clip.mp4')).toBeUndefined();
    expect(taskOfUpload('constructor/x')).toBeUndefined();
  });

  it('reads incoming keys into their task and the path their records mirror', () => {
    expect(parseIncomingKey('incoming/text/embed/a.txt')).toEqual({
      path: 'text/embed/a.txt',
      modality: 'text',
      task: 'text/embed',
      name: 'a.txt',
    });
    expect(parseIncomingKey('incoming/video/clip.mp4')).toEqual({
      path: 'video/clip.mp4',
      modality: 'video',
      name: 'clip.mp4',
    });
    expect(parseIncomingKey('incoming/text/embed/')).toBeUndefined();
    expect(parseIncomingKey('results/text/a.txt.json')).toBeUndefined();
  });
});
