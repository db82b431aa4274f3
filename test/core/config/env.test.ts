import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ENVIRONMENT,
  loadSettings,
  modelChoiceOf,
  readSetting,
  SettingsError,
  servedTaskNames,
  TASK_NAMES,
  type VariableName,
} from '../../../functions/core/config/env.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { SUPPORTED_TASKS } from '../../../functions/tasks.ts';

/** The error `loadSettings(env)` throws, or a failure when it throws none. */
function refusal(env: Record<string, string>): SettingsError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error(`settings ${JSON.stringify(env)} were accepted`);
}

interface TableRow {
  readonly names: string[];
  readonly defaults: string[];
  readonly allowed: string;
}

/** The rows of the environment table in docs/configuration.md (the one whose header has `allowed`). */
async function documentedTable(): Promise<TableRow[]> {
  const page = await readFile(resolve('docs/configuration.md'), 'utf8');
  const lines = page.split('\n');
  const header = lines.findIndex((line) => /^\| variable\s+\| default\s+\| allowed\s+\|/.test(line));
  expect(header, 'docs/configuration.md has an environment table with an allowed column').toBeGreaterThan(0);
  const rows: TableRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [variable = '', fallback = '', allowed = ''] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    const names = [...variable.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    const spans = [...fallback.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    // One name: its first code span (the rest is a note) or the plain text; several: one span each.
    const defaults = names.length > 1 ? spans : [spans[0] ?? fallback];
    rows.push({ names, defaults, allowed });
  }
  return rows;
}

describe('the environment schema', () => {
  it.each([
    ['TASKS', 'image/nope'],
    ['PORT', 'abc'],
    ['MAX_BODY_BYTES', '-1'],
    ['UPLOAD_CONCURRENCY', 'abc'],
    ['MAX_UPLOAD_BYTES', 'lots'],
    ['INFERENCE_THREADS', 'two'],
    ['INFERENCE_NICE', '20'],
  ])('refuses %s=%s, naming the variable, its value and what is allowed', (name, value) => {
    const error = refusal({ [name]: value });

    expect(error.problems).toEqual([
      {
        variable: name,
        message: `${name} must be ${ENVIRONMENT[name as VariableName].allowed} (got "${value}")`,
      },
    ]);
    expect(error.message).toContain(`${name} must be`);
  });

  it('words a bad port as the issue asks', () => {
    expect(refusal({ PORT: 'abc' }).message).toBe(
      'invalid settings:\n  PORT must be an integer from 1 to 65535 (got "abc")',
    );
  });

  it.each([
    ['PORT', '0'],
    ['PORT', '65536'],
    ['S3_PORT', '8080.5'],
    ['TEXT_MAX_CHARS', '0'],
    ['OCR_MAX_PIXELS', '1e6'],
    ['INFERENCE_NICE', '-5'],
    ['INFERENCE_NICE', 'low'],
    ['LOG_LEVEL', 'verbose'],
    ['EXECUTION_PROVIDER', 'tensorrt'],
    ['EMBEDDED_S3', 'no'],
    ['MODEL_TIER', 'edge'],
    ['TASKS', 'image/ocr,,text/nope'],
    ['MODEL_IMAGE_OCR', 'ppocr-v4@'],
    ['MODEL_SPEECH_VAD', '../etc@1'],
    ['MODEL_REPOSITORY', 'https://bucket.example/models'],
    ['MODEL_REPOSITORY', 's3://'],
    ['UPLOAD_QUEUE_URLS', 'queue-name'],
    ['HOST', 'local host'],
    ['POWERTOOLS_METRICS_DISABLED', 'maybe'],
    ['POWERTOOLS_METRICS_DISABLED', ''],
    ['POWERTOOLS_METRICS_NAMESPACE', 'AWS/Lambda'],
  ])('refuses %s=%j', (name, value) => {
    expect(refusal({ [name]: value }).problems.map((p) => p.variable)).toEqual([name]);
  });

  it('names every bad variable in one error', () => {
    const error = refusal({ PORT: 'abc', TASKS: 'image/nope', LOG_LEVEL: 'loud' });

    expect(error.problems.map((p) => p.variable).sort()).toEqual(['LOG_LEVEL', 'PORT', 'TASKS']);
    expect(error.message.split('\n')).toHaveLength(4);
  });

  it('refuses contradictory values, naming the variable', () => {
    expect(refusal({ PORT: '9000', S3_PORT: '9000' }).message).toContain(
      'S3_PORT must differ from PORT while EMBEDDED_S3 is on (both are 9000)',
    );
    expect(refusal({ EXECUTION_PROVIDER: 'cuda', MODEL_TIER: 'lambda' }).problems[0]?.variable).toBe(
      'EXECUTION_PROVIDER',
    );
    expect(refusal({ TASKS: 'image/ocr,text/classify,image/ocr' }).message).toContain(
      'TASKS must name each task once (got "image/ocr" twice)',
    );
  });

  it('accepts equal ports when the embedded S3 server is off', () => {
    expect(loadSettings({ PORT: '9000', S3_PORT: '9000', EMBEDDED_S3: 'off' }).PORT).toBe(9000);
  });

  it('never prints variables outside the schema, such as AWS keys', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

    const error = refusal({ AWS_SECRET_ACCESS_KEY: secret, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', PORT: 'abc' });

    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain('AKIAEXAMPLE');
  });

  it('shortens a long value in the message', () => {
    const error = refusal({ HOST: `${'x'.repeat(500)} y` });

    expect(error.message.length).toBeLessThan(300);
  });

  it('accepts the settings the GPU container and the Lambda functions are deployed with', () => {
    const gpu = loadSettings({
      HOST: '0.0.0.0',
      PORT: '8080',
      EMBEDDED_S3: 'off',
      AWS_REGION: 'eu-west-1',
      MODEL_REPOSITORY: 's3://inferlet-models-123/models/',
      MODEL_CACHE_DIR: '/tmp/models',
      MODEL_TIER: 'gpu',
      EXECUTION_PROVIDER: 'cuda',
      TASKS: 'image/ocr',
      MODEL_IMAGE_OCR: 'ppocr-v4@3',
      UPLOAD_QUEUE_URLS: 'https://sqs.eu-west-1.amazonaws.com/123456789012/inferlet-image-uploads',
      POWERTOOLS_SERVICE_NAME: 'inferlet',
      POWERTOOLS_METRICS_NAMESPACE: 'Inferlet',
    });
    const lambda = loadSettings({
      MODEL_REPOSITORY: 's3://inferlet-models-123/',
      MODEL_CACHE_DIR: '/tmp/models',
      MODEL_TIER: 'lambda',
      MODEL_TEXT_CLASSIFY: 'spam-fasttext@2',
      MAX_UPLOAD_BYTES: '10485760',
      UPLOAD_CONCURRENCY: '1',
      NODE_OPTIONS: '--enable-source-maps',
    });

    expect(gpu).toMatchObject({
      PORT: 8080,
      EMBEDDED_S3: 'off',
      EXECUTION_PROVIDER: 'cuda',
      TASKS: ['image/ocr'],
    });
    expect(modelChoiceOf(gpu, 'image/ocr')).toEqual({ name: 'ppocr-v4', version: '3' });
    expect(gpu.UPLOAD_QUEUE_URLS).toHaveLength(1);
    expect(lambda).toMatchObject({
      MODEL_TIER: 'lambda',
      MAX_UPLOAD_BYTES: 10_485_760,
      UPLOAD_CONCURRENCY: 1,
    });
    expect(modelChoiceOf(lambda, 'text/classify')).toEqual({ name: 'spam-fasttext', version: '2' });
  });

  it('reads values with spaces, in any case for enumerations, and empty values as unset', () => {
    const settings = loadSettings({
      TASKS: ' text/classify , speech/vad ',
      LOG_LEVEL: 'WARN',
      EXECUTION_PROVIDER: 'CPU',
      PORT: ' 9090 ',
      MAX_BODY_BYTES: '',
      MODEL_REPOSITORY: '',
    });

    expect(servedTaskNames(settings)).toEqual(['text/classify', 'speech/vad']);
    expect(settings).toMatchObject({ LOG_LEVEL: 'warn', EXECUTION_PROVIDER: 'cpu', PORT: 9090 });
    expect(settings.MAX_BODY_BYTES).toBe(6 * 1024 * 1024);
    expect(settings.MODEL_REPOSITORY).toBeUndefined();
  });

  it('parses once while the variables keep their values, and freezes the result', () => {
    const env: Record<string, string> = { PORT: '9000' };

    const first = loadSettings(env);
    const again = loadSettings(env);
    env.PORT = '9001';
    const changed = loadSettings(env);

    expect(again).toBe(first);
    expect(changed.PORT).toBe(9001);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('reads one variable alone, ignoring the mistakes of others', () => {
    expect(readSetting('LOG_LEVEL', { LOG_LEVEL: 'Debug', PORT: 'abc' })).toBe('debug');
    expect(() => readSetting('PORT', { PORT: 'abc' })).toThrow(SettingsError);
  });

  it('feeds the readers of each setting, such as the model store', () => {
    const store = createModelStore({}, { MODEL_REPOSITORY: 's3://some-bucket/prefix' });

    expect(store.location).toBe('s3://some-bucket/prefix/');
    expect(() => createModelStore({}, { MODEL_TIER: 'edge' })).toThrow('MODEL_TIER must be lambda or gpu');
  });

  it('knows the task names and model variables of the task registry', () => {
    expect([...TASK_NAMES].sort()).toEqual(Object.keys(SUPPORTED_TASKS).sort());
    for (const task of Object.values(SUPPORTED_TASKS)) {
      const variable = `MODEL_${task.name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}` as VariableName;
      expect(ENVIRONMENT[variable]?.default, variable).toBe(task.defaultModel);
    }
  });

  it('defaults to what docs/configuration.md says, and that page lists exactly the schema', async () => {
    const rows = await documentedTable();
    const defaults = loadSettings({});
    const documented = new Map<string, { fallback: string; allowed: string }>();
    for (const row of rows) {
      expect(row.defaults, `defaults of ${row.names.join(', ')}`).toHaveLength(row.names.length);
      row.names.forEach((name, i) => {
        documented.set(name, { fallback: row.defaults[i] as string, allowed: row.allowed });
      });
    }

    expect([...documented.keys()].sort()).toEqual(Object.keys(ENVIRONMENT).sort());
    for (const [name, variable] of Object.entries(ENVIRONMENT)) {
      expect(documented.get(name), name).toEqual({ fallback: variable.default, allowed: variable.allowed });
      const parsed = defaults[name as VariableName];
      // Where the schema fills a default in, it is the documented one.
      if (typeof parsed === 'number' || typeof parsed === 'string')
        expect(String(parsed), name).toBe(variable.default);
    }
    expect(servedTaskNames(defaults)).toEqual(TASK_NAMES.filter((task) => task !== 'text/embed'));
    expect(defaults.INFERENCE_THREADS).toBeUndefined();
    expect(loadSettings({ INFERENCE_NICE: '0' }).INFERENCE_NICE).toBe(0);
    expect(createModelStore({}, {}).location).toBe(resolve('models'));
  });

  it('imports nothing but zod, Node built-ins, the task descriptors and import-free constants, so every Lambda bundle can carry it', async () => {
    const importsOf = async (path: string) =>
      [
        ...(await readFile(resolve(path), 'utf8')).matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gms),
      ].map((m) => m[1]);
    // Constants shared with the code that reads them elsewhere; each imports nothing itself.
    const constants = ['../metric-names.ts', '../model-store/segment.ts'];

    const imported = await importsOf('functions/core/config/env.ts');

    expect(imported.length).toBeGreaterThan(0);
    // The descriptors import only constants of their own folder (test/core/tasks/descriptors.test.ts).
    expect(
      imported.filter(
        (name) =>
          name !== 'zod' &&
          !name?.startsWith('node:') &&
          name !== '../tasks/descriptors.ts' &&
          !constants.includes(name as string),
      ),
    ).toEqual([]);
    for (const constant of constants)
      expect(await importsOf(join('functions/core/config', constant)), constant).toEqual([]);
  });
});
