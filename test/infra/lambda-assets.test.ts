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
import { TASK_FUNCTIONS, type TaskKey } from '../../infra/config.ts';
import type { InferenceFunction } from '../../infra/constructs/inference-function.ts';
import type { InferletStack } from '../../infra/stacks/inferlet-stack.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';
import { importModel } from '../../scripts/import-model.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { referenceForward, wordPieceTokenizerJson, writeBertExport } from '../support/bert-model.ts';
import { renderText, stackLines } from '../support/render-text.ts';
import { s3Record, sqsMessage } from '../support/s3-events.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../support/s3rver.ts';
import { floatWav } from '../support/spoken-audio.ts';

type Json = Record<string, unknown>;

let workDir: string;
let outdir: string;
let stack: InferletStack;
let template: { Resources: Record<string, { Properties: Json }> };
let layers: LayerBuild[];
let s3: S3rverHandle;
let client: S3Client;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-assets-'));
  outdir = join(workDir, 'cdk.out');
  layers = [
    buildOnnxRuntimeLayer(join(workDir, 'layers', 'onnxruntime')),
    buildSharpLayer(join(workDir, 'layers', 'sharp')),
  ];
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const created = createInferletApp(
    { context, outdir },
    {
      nativeLayers: {
        buildOnnxRuntime: () => layers[0] as LayerBuild,
        buildSharp: () => layers[1] as LayerBuild,
      },
    },
  );
  stack = created.stack;
  template = created.app.synth().getStackByName('Inferlet').template;

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
 * Runs `fn`'s bundled asset in a fresh Node process on `event`: the template's environment for the
 * function, the model repository and uploads on s3rver.
 */
function invoke(
  fn: InferenceFunction,
  event: APIGatewayProxyEventV2 | SQSEvent,
  overrides: Readonly<Record<string, string>> = {},
): Invocation {
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
  writeFileSync(eventFile, JSON.stringify(event));
  const script = join(task, 'invoke.mjs');
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
const { handler } = await import('./index.mjs');
const result = await handler(JSON.parse(readFileSync(process.argv[2], 'utf8')), JSON.parse(process.argv[3]));
process.stdout.write('\\n' + JSON.stringify({ result }) + '\\n');`,
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
  const last = records.findLast((record) => 'result' in record);
  return { result: (last?.result ?? {}) as Json, emf: records.filter((record) => '_aws' in record) };
}

function functionsOf(key: TaskKey): { http: InferenceFunction; upload: InferenceFunction } {
  const fns = stack.lambdaTasks.get(key);
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

const EXPECTED_MODEL: Record<TaskKey, { model: string; variant: string }> = {
  image: { model: 'ppocr-v4@1', variant: 'fp32' },
  text: { model: 'spam-fasttext@1', variant: 'int8' },
  speech: { model: 'silero-vad@1', variant: 'fp32' },
};

describe.each(Object.keys(TASK_FUNCTIONS) as TaskKey[])('the synthesised %s function assets', (key) => {
  const { task, route } = TASK_FUNCTIONS[key];

  it('answer an HTTP API event with the configured model and emit metrics the dashboard reads', async () => {
    const input = await sampleInput(key);
    const event = httpApiEvent('POST', route, {
      body: input.contentType === 'application/json' ? new TextDecoder().decode(input.bytes) : input.bytes,
      contentType: input.contentType,
    });

    const { result, emf } = invoke(functionsOf(key).http, event);

    expect(result.statusCode).toBe(200);
    const body = JSON.parse(String(result.body)) as Json;
    expect(body.model).toBe(EXPECTED_MODEL[key].model);
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
      ...EXPECTED_MODEL[key],
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
    expect(stored).toMatchObject({ source: { key: objectKey }, model: EXPECTED_MODEL[key].model });
  });
});

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

/** Links every package of a layer's node_modules into `target`, scoped packages one by one. */
function linkPackages(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (name.startsWith('@')) linkPackages(join(source, name), join(target, name));
    else symlinkSync(join(source, name), join(target, name));
  }
}
