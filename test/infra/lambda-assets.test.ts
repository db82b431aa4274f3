/**
 * The Lambda assets as `cdk deploy` would upload them: the app is synthesised once with bundling (local
 * esbuild), then each task's bundled HTTP and upload handlers are loaded from `cdk.out` in a child process
 * that can import nothing but the two layers' `node_modules` (Lambda puts layers on the module path; a
 * `node_modules` of links next to the bundle stands in for it), with the environment the template gives
 * the function, and the model repository published to s3rver.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CfnElement } from 'aws-cdk-lib';
import type { APIGatewayProxyEventV2, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRepository } from '../../functions/core/model-store/publish.ts';
import { TextTokenizer } from '../../functions/text/tokenizer.ts';
import { createInferletApp, MODEL_REPOSITORY_DIR } from '../../infra/app.ts';
import { DEFAULT_CONFIG, TASK_KEYS, type TaskKey, taskOfKey } from '../../infra/config/index.ts';
import type { InferenceFunction } from '../../infra/constructs/inference-function.ts';
import type { InferletStack } from '../../infra/stacks/inferlet-stack.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';
import { importModel } from '../../scripts/import-model.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import {
  type BertWeights,
  meanPooledNormalised,
  referenceForward,
  wordPieceTokenizerJson,
  writeBertExport,
} from '../support/bert-model.ts';
import { renderText, stackLines } from '../support/render-text.ts';
import { s3Record, sqsMessage } from '../support/s3-events.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { floatWav } from '../support/spoken-audio.ts';

type Json = Record<string, unknown>;

/** An app synthesised with bundling: its stack, template and the `cdk.out` its assets are staged in. */
interface SynthesisedApp {
  readonly stack: InferletStack;
  readonly template: { Resources: Record<string, { Properties: Json }> };
  readonly outdir: string;
}

let workDir: string;
let defaults: SynthesisedApp;
let layers: LayerBuild[];
let s3: S3rverHandle;
let client: S3Client;

/** Synthesises the app as `cdk synth` does (bundling included) with `inferlet` over the defaults. */
function synthesise(name: string, inferlet?: Json, repositoryDir?: string): SynthesisedApp {
  const outdir = join(workDir, name);
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const created = createInferletApp(
    { context: { ...context, ...(inferlet && { inferlet }) }, outdir },
    {
      nativeLayers: {
        buildOnnxRuntime: () => layers[0] as LayerBuild,
        buildSharp: () => layers[1] as LayerBuild,
      },
      ...(repositoryDir && { repositoryDir }),
    },
  );
  const template = created.app.synth().getStackByName('Inferlet').template;
  return { stack: created.stack, template, outdir };
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-assets-'));
  layers = [
    buildOnnxRuntimeLayer(join(workDir, 'layers', 'onnxruntime')),
    buildSharpLayer(join(workDir, 'layers', 'sharp')),
  ];
  defaults = synthesise('cdk.out');

  s3 = await startS3rver({ buckets: ['models', 'uploads'] });
  client = new S3Client({
    endpoint: s3.endpoint,
    region: S3RVER_REGION,
    credentials: S3RVER_CREDENTIALS,
    forcePathStyle: true,
  });
  await publishRepository({ from: MODEL_REPOSITORY_DIR, to: 's3://models/', client });
}, 300_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

/** What one invocation printed: the handler's result and the EMF records written to stdout. */
interface Invocation {
  readonly result: Json;
  readonly emf: Json[];
}

/**
 * Runs `fn`'s bundled asset (of the app `synthesised`, the defaults unless given) in a fresh Node process on
 * `event`: the template's environment for the function, the model repository and uploads on s3rver.
 */
function invoke(
  fn: InferenceFunction,
  event: APIGatewayProxyEventV2 | SQSEvent,
  overrides: Readonly<Record<string, string>> = {},
  synthesised: SynthesisedApp = defaults,
): Invocation {
  const { results, emf } = invokeInTurn(fn, [event], overrides, synthesised);
  return { result: results.at(-1) ?? {}, emf };
}

/**
 * Runs `events` one after the other through one process of `fn`'s bundled asset, as one warm Lambda
 * environment takes them (see {@link invoke}); the results in order, and every EMF record.
 */
function invokeInTurn(
  fn: InferenceFunction,
  events: readonly (APIGatewayProxyEventV2 | SQSEvent)[],
  overrides: Readonly<Record<string, string>> = {},
  synthesised: SynthesisedApp = defaults,
): { results: Json[]; emf: Json[] } {
  const { stack, template, outdir } = synthesised;
  const resource = template.Resources[stack.getLogicalId(fn.function.node.defaultChild as CfnElement)];
  if (!resource) throw new Error(`no ${fn.node.path} in the template`);
  // Code.S3Key is `<asset hash>.zip`; the asset is staged as cdk.out/asset.<hash>/.
  const assetPath = `asset.${String((resource.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '')}`;
  const task = mkdtempSync(join(workDir, 'task-'));
  // Copied, not linked: Node resolves imports from a module's real path.
  cpSync(join(outdir, assetPath), task, { recursive: true });
  for (const layer of layers)
    linkPackages(join(layer.directory, 'nodejs', 'node_modules'), join(task, 'node_modules'));
  const environment = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const eventFile = join(task, 'event.json');
  writeFileSync(eventFile, JSON.stringify(events));
  const script = join(task, 'invoke.mjs');
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
const { handler } = await import('./index.mjs');
for (const event of JSON.parse(readFileSync(process.argv[2], 'utf8'))) {
  const result = await handler(event, JSON.parse(process.argv[3]));
  process.stdout.write('\\n' + JSON.stringify({ result }) + '\\n');
}`,
  );

  const stdout = execFileSync(
    process.execPath,
    ['--enable-source-maps', script, eventFile, JSON.stringify(lambdaContext())],
    {
      cwd: task,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        // Strings only: the rest are CloudFormation references, replaced by their local stand-ins.
        ...Object.fromEntries(Object.entries(environment).filter(([, value]) => typeof value === 'string')),
        MODEL_REPOSITORY: 's3://models/',
        MODEL_CACHE_DIR: join(task, 'models-cache'),
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: S3RVER_REGION,
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        LOG_LEVEL: 'silent',
        ...overrides,
      },
    },
  );
  const records = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Json);
  return {
    results: records.filter((record) => 'result' in record).map((record) => record.result as Json),
    emf: records.filter((record) => '_aws' in record),
  };
}

function functionsOf(
  key: TaskKey,
  synthesised: SynthesisedApp = defaults,
): { http: InferenceFunction; upload: InferenceFunction } {
  const fns = synthesised.stack.lambdaTasks.get(key);
  if (!fns?.upload) throw new Error(`no Lambda functions for ${key}`);
  return { http: fns.http, upload: fns.upload };
}

/** A request body each task accepts, and what its result must show. */
async function sampleInput(key: TaskKey): Promise<{ bytes: Uint8Array; contentType: string; name: string }> {
  if (key === 'image') {
    const bytes = await renderText({
      width: 560,
      height: 120,
      lines: stackLines([{ text: 'ship to berlin', fontSize: 34 }]),
    });
    return { bytes, contentType: 'image/png', name: 'label.png' };
  }
  if (key === 'text') {
    const bytes = new TextEncoder().encode(
      JSON.stringify({
        text: 'Congratulations! You have won a FREE prize, click here to claim your cash now',
      }),
    );
    return { bytes, contentType: 'application/json', name: 'mail.json' };
  }
  return { bytes: floatWav(new Float32Array(16_000), 16_000), contentType: 'audio/wav', name: 'silence.wav' };
}

/** The tasks the default configuration deploys, with the model and variant each serves. */
const EXPECTED_MODEL: Partial<Record<TaskKey, { model: string; variant: string }>> = {
  image: { model: 'ppocr-v4@3', variant: 'fp32' },
  text: { model: 'spam-fasttext@2', variant: 'int8' },
  speech: { model: 'silero-vad@1', variant: 'int8' },
};

describe.each(TASK_KEYS.filter((key) => DEFAULT_CONFIG.tasks[key]))(
  'the synthesised %s function assets',
  (key) => {
    const { name: task, route } = taskOfKey(key);
    const expected = EXPECTED_MODEL[key] as { model: string; variant: string };

    it('answer an HTTP API event with the configured model and emit metrics the dashboard reads', async () => {
      const input = await sampleInput(key);
      const event = httpApiEvent('POST', route, {
        body: input.contentType === 'application/json' ? new TextDecoder().decode(input.bytes) : input.bytes,
        contentType: input.contentType,
      });

      const { result, emf } = invoke(functionsOf(key).http, event);

      expect(result.statusCode).toBe(200);
      const body = JSON.parse(String(result.body)) as Json;
      expect(body.model).toBe(expected.model);
      if (key === 'image') expect(body.text).toMatch(/berlin/);
      if (key === 'text') expect(JSON.stringify(body)).toMatch(/spam/);
      expect(
        emf.map((record) => ({
          service: record.service,
          task: record.task,
          model: record.model,
          variant: record.variant,
        })),
      ).toContainEqual({
        service: 'inferlet-lambda',
        task,
        ...expected,
      });
    });

    it('process an upload event into results/<task>/ and report no failed messages', async () => {
      const input = await sampleInput(key);
      const objectKey = `incoming/${key}/${input.name}`;
      await client.send(
        new PutObjectCommand({
          Bucket: 'uploads',
          Key: objectKey,
          Body: input.bytes,
          ContentType: input.contentType,
        }),
      );
      const head = await client.send(new HeadObjectCommand({ Bucket: 'uploads', Key: objectKey }));
      const event: SQSEvent = {
        Records: [
          sqsMessage({
            Records: [
              s3Record('uploads', objectKey, {
                eTag: String(head.ETag).replaceAll('"', ''),
                size: input.bytes.byteLength,
              }),
            ],
          }),
        ],
      };

      const { result } = invoke(functionsOf(key).upload, event);

      expect(result).toEqual({ batchItemFailures: [] });
      const written = await client.send(
        new GetObjectCommand({ Bucket: 'uploads', Key: `results/${key}/${input.name}.json` }),
      );
      const stored = JSON.parse(await (written.Body?.transformToString() ?? '{}')) as Json;
      expect(stored).toMatchObject({ source: { key: objectKey }, model: expected.model });
    });
  },
);

describe('the synthesised text function asset with an imported Hugging Face classifier', () => {
  it('classifies with the model MODEL_TEXT_CLASSIFY names, as the reference forward pass does', async () => {
    const exported = join(workDir, 'sentiment-export');
    const weights = await writeBertExport(exported, {
      head: 'classifier',
      labels: 3,
      labelNames: ['negative', 'neutral', 'positive'],
      seed: 31,
    });
    const repository = join(workDir, 'imported');
    await importModel(['--from', exported, '--name', 'sentiment', '--repository', repository]);
    await publishRepository({ from: repository, to: 's3://models/', client });
    const text = 'win a free cruise, click now!';
    const event = httpApiEvent('POST', '/v1/text/classify', {
      body: JSON.stringify({ text }),
      contentType: 'application/json',
    });

    const { result } = invoke(functionsOf('text').http, event, { MODEL_TEXT_CLASSIFY: 'sentiment@1' });

    expect(result.statusCode).toBe(200);
    const body = JSON.parse(String(result.body)) as {
      model: string;
      results: { scores: Record<string, number> }[];
    };
    expect(body.model).toBe('sentiment@1');
    const tokens = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 32 }).encode(text);
    const logits = referenceForward(weights, [tokens]).logits[0] as number[];
    const e = logits.map((z) => Math.exp(z - Math.max(...logits)));
    const scores = Object.values(body.results[0]?.scores ?? {});
    expect(scores).toHaveLength(3);
    for (const [c, score] of scores.entries()) {
      expect(Math.abs(score - (e[c] as number) / e.reduce((s, v) => s + v, 0))).toBeLessThan(1e-4);
    }
  });
});

describe('the synthesised text-embed function assets with an imported encoder', () => {
  const texts = ['win a free cruise, click now!', 'please send the report before noon', 'hello'];
  const tokenizer = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 32 });
  let weights: BertWeights;
  let embedApp: SynthesisedApp;

  beforeAll(async () => {
    const exported = join(workDir, 'encoder-export');
    weights = await writeBertExport(exported, { head: 'encoder', seed: 41 });
    const repository = join(workDir, 'imported-encoder');
    await importModel(['--from', exported, '--name', 'encoder', '--repository', repository]);
    await publishRepository({ from: repository, to: 's3://models/', client });
    // The deployment a user writes for an imported encoder: the task named, its model named, nothing else.
    embedApp = synthesise(
      'cdk.out-embed',
      {
        tasks: {
          image: null,
          text: null,
          speech: null,
          'text-embed': { lambda: { model: { name: 'encoder' } } },
        },
      },
      repository,
    );
  }, 300_000);

  const expectedVectors = (inputs: readonly string[]) =>
    referenceForward(
      weights,
      inputs.map((text) => tokenizer.encode(text)),
    ).lastHidden.map(meanPooledNormalised);
  const expectClose = (actual: readonly number[], expected: readonly number[]) => {
    expect(actual).toHaveLength(expected.length);
    for (const [i, value] of actual.entries())
      expect(Math.abs(value - (expected[i] as number)), `element ${i}`).toBeLessThan(1e-4);
  };

  it('answers an HTTP API event on /v1/text/embed with vectors equal to the reference forward pass', () => {
    const event = httpApiEvent('POST', '/v1/text/embed', {
      body: JSON.stringify({ texts }),
      contentType: 'application/json',
    });

    const { result, emf } = invoke(functionsOf('text-embed', embedApp).http, event, {}, embedApp);

    expect(result.statusCode).toBe(200);
    const body = JSON.parse(String(result.body)) as {
      model: string;
      dimensions: number;
      embeddings: number[][];
    };
    expect(body).toMatchObject({ model: 'encoder@1', dimensions: 16 });
    const expected = expectedVectors(texts);
    expect(body.embeddings).toHaveLength(texts.length);
    for (const [i, vector] of body.embeddings.entries()) expectClose(vector, expected[i] as number[]);
    expect(
      emf.map((record) => ({ service: record.service, task: record.task, model: record.model })),
    ).toContainEqual({ service: 'inferlet-lambda', task: 'text/embed', model: 'encoder@1' });
  });

  // OIP answers 503 for a model still loading (clients poll GET /v2/models/<model>/ready), and a cold
  // environment is still loading when its first event arrives: the infer request here comes second, as it
  // would to a warm environment.
  it('serves the encoder over OIP through the same warm function, last_hidden_state equal to the reference', () => {
    const encoded = tokenizer.encode('hello world');
    const tensor = (name: string, data: readonly number[]) => ({
      name,
      datatype: 'INT64',
      shape: [1, data.length],
      data,
    });
    const embed = httpApiEvent('POST', '/v1/text/embed', {
      body: JSON.stringify({ text: 'hello' }),
      contentType: 'application/json',
    });
    const infer = httpApiEvent('POST', '/v2/models/encoder/infer', {
      body: JSON.stringify({
        inputs: [
          tensor('input_ids', encoded.ids),
          tensor(
            'attention_mask',
            encoded.ids.map(() => 1),
          ),
          tensor(
            'token_type_ids',
            encoded.ids.map(() => 0),
          ),
        ],
        outputs: [{ name: 'last_hidden_state' }],
      }),
      contentType: 'application/json',
    });

    const {
      results: [first, result],
    } = invokeInTurn(functionsOf('text-embed', embedApp).http, [embed, infer], {}, embedApp);

    expect(first?.statusCode).toBe(200);
    expect(result?.statusCode).toBe(200);
    const [output] = (JSON.parse(String(result?.body)) as { outputs: { shape: number[]; data: number[] }[] })
      .outputs;
    expect(output?.shape).toEqual([1, encoded.ids.length, 16]);
    expectClose(output?.data ?? [], referenceForward(weights, [encoded]).lastHidden[0]?.flat() ?? []);
  });

  it('writes the vectors of a .jsonl uploaded under incoming/text/embed/ to results/text/embed/', async () => {
    const objectKey = 'incoming/text/embed/notes.jsonl';
    const body = texts.map((text, i) => JSON.stringify({ id: `n${i}`, text })).join('\n');
    await client.send(new PutObjectCommand({ Bucket: 'uploads', Key: objectKey, Body: body }));
    const head = await client.send(new HeadObjectCommand({ Bucket: 'uploads', Key: objectKey }));
    const event: SQSEvent = {
      Records: [
        sqsMessage({
          Records: [
            s3Record('uploads', objectKey, {
              eTag: String(head.ETag).replaceAll('"', ''),
              size: Buffer.byteLength(body),
            }),
          ],
        }),
      ],
    };

    const { result } = invoke(functionsOf('text-embed', embedApp).upload, event, {}, embedApp);

    expect(result).toEqual({ batchItemFailures: [] });
    const written = await client.send(
      new GetObjectCommand({ Bucket: 'uploads', Key: 'results/text/embed/notes.jsonl.json' }),
    );
    const stored = JSON.parse(await (written.Body?.transformToString() ?? '{}')) as {
      model: string;
      embeddings: number[][];
      lines: { id: string }[];
    };
    expect(stored.model).toBe('encoder@1');
    expect(stored.lines.map((line) => line.id)).toEqual(['n0', 'n1', 'n2']);
    const expected = expectedVectors(texts);
    for (const [i, vector] of stored.embeddings.entries()) expectClose(vector, expected[i] as number[]);
  });
});

/** Links every package of a layer's node_modules into `target`, scoped packages one by one. */
function linkPackages(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (name.startsWith('@')) linkPackages(join(source, name), join(target, name));
    else symlinkSync(join(source, name), join(target, name));
  }
}
