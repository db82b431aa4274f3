import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { App, CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferletApp } from '../../infra/app.ts';
import type { InferletStack } from '../../infra/stacks/inferlet-stack.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';
import { bundleFunction } from '../../scripts/bundle.ts';
import { httpApiEvent, lambdaContext } from '../support/api-gateway-event.ts';
import { renderText, stackLines } from '../support/render-text.ts';

type Json = Record<string, unknown>;

/** The context `cdk synth` runs with (feature flags), without bundling so synthesis stays fast. */
function synthContext(): Json {
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  return { ...context, 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true };
}

let workDir: string;
let ortLayer: LayerBuild;
let sharpLayer: LayerBuild;

function newApp(): { app: App; stack: InferletStack } {
  return createInferletApp(
    { context: synthContext(), outdir: mkdtempSync(join(workDir, 'cdk.out-')) },
    { nativeLayers: { buildOnnxRuntime: () => ortLayer, buildSharp: () => sharpLayer } },
  );
}

beforeAll(() => {
  // Outside the checkout, so nothing resolves from the project's node_modules by accident.
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-infra-'));
  ortLayer = buildOnnxRuntimeLayer(join(workDir, 'layers', 'onnxruntime'));
  sharpLayer = buildSharpLayer(join(workDir, 'layers', 'sharp'));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('the native layers', () => {
  it('build an onnxruntime layer under 50 MB with libonnxruntime.so.1 and no CUDA or TensorRT libraries', () => {
    const files = ortLayer.files;

    expect(ortLayer.unzippedBytes).toBeLessThan(50e6);
    expect(files).toContain('nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1');
    expect(files).toContain(
      'nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    );
    expect(files).toContain('nodejs/node_modules/onnxruntime-common/package.json');
    expect(files.filter((file) => /cuda|tensorrt|nvinfer|cudnn|cublas/i.test(file))).toEqual([]);
    expect(files.filter((file) => /\/(darwin|win32|arm64)\//.test(file))).toEqual([]);
  });

  it('build a sharp layer with the linux-x64 binding, libvips and sharp’s run-time dependencies', () => {
    const packages = new Set(sharpLayer.files.map((file) => file.split('/').slice(2, 4).join('/')));

    for (const name of [
      'sharp/dist',
      '@img/sharp-linux-x64',
      '@img/sharp-libvips-linux-x64',
      '@img/colour',
      'detect-libc/package.json',
      'semver/package.json',
    ]) {
      expect([...packages].some((entry) => entry.startsWith(name))).toBe(true);
    }
    expect(sharpLayer.files.some((file) => file.endsWith('.node') && file.includes('sharp-linux-x64'))).toBe(
      true,
    );
    expect(sharpLayer.files.filter((file) => /darwin|win32|linuxmusl|arm64|wasm/.test(file))).toEqual([]);
  });

  it('let the bundled image handler read text with nothing but the two layers to import from', async () => {
    // Lambda puts the layers on the module path of /var/task; a node_modules of links stands in for it.
    const task = join(workDir, 'task');
    await bundleFunction('functions/image/handler.ts', join(task, 'index.mjs'));
    for (const layer of [ortLayer, sharpLayer])
      linkPackages(join(layer.directory, 'nodejs', 'node_modules'), join(task, 'node_modules'));
    const page = await renderText({
      width: 560,
      height: 120,
      lines: stackLines([{ text: 'ship to berlin', fontSize: 34 }]),
    });
    const eventFile = join(workDir, 'event.json');
    writeFileSync(
      eventFile,
      JSON.stringify(httpApiEvent('POST', '/v1/image/ocr', { body: page, contentType: 'image/png' })),
    );
    const invoke = join(workDir, 'invoke.mjs');
    writeFileSync(
      invoke,
      `import { readFileSync } from 'node:fs';
const { handler } = await import(process.argv[2]);
const response = await handler(JSON.parse(readFileSync(process.argv[3], 'utf8')), JSON.parse(process.argv[4]));
process.stdout.write('\\n' + JSON.stringify(response));`,
    );

    const stdout = execFileSync(
      process.execPath,
      [invoke, join(task, 'index.mjs'), eventFile, JSON.stringify(lambdaContext())],
      {
        cwd: workDir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH,
          MODEL_REPOSITORY: resolve('models'),
          MODEL_CACHE_DIR: join(workDir, 'models-cache'),
          MODEL_TIER: 'lambda',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
      },
    );

    const response = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(200);
    expect((JSON.parse(response.body) as { text: string }).text).toMatch(/berlin/);
  });
});

describe('the Inferlet stack', () => {
  let app: App;
  let stack: InferletStack;
  let template: Template;
  let modelsBucketId: string;

  beforeAll(() => {
    ({ app, stack } = newApp());
    template = Template.fromStack(stack);
    modelsBucketId = stack.getLogicalId(stack.models.bucket.node.defaultChild as CfnElement);
  });

  function functionResource(): { id: string; properties: Json } {
    const functions = Object.entries(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(1);
    const [id, resource] = functions[0] as [string, { Properties: Json }];
    return { id, properties: resource.Properties };
  }

  it('runs the image function on nodejs22.x and x86_64 with the onnxruntime and sharp layers', () => {
    const layerIds = Object.keys(
      template.findResources('AWS::Lambda::LayerVersion', {
        Properties: { CompatibleArchitectures: ['x86_64'], CompatibleRuntimes: ['nodejs22.x'] },
      }),
    );

    expect(layerIds).toHaveLength(2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      Layers: Match.arrayWith(layerIds.map((id) => ({ Ref: id }))),
    });
  });

  it('gives the function 2048 MB of memory and a 30-second timeout', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 2048, Timeout: 30 });
  });

  it('points MODEL_REPOSITORY at the models bucket and runs the lambda model tier from /tmp/models', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          MODEL_REPOSITORY: { 'Fn::Join': ['', ['s3://', { Ref: modelsBucketId }, '/']] },
          MODEL_TIER: 'lambda',
          MODEL_CACHE_DIR: '/tmp/models',
          POWERTOOLS_SERVICE_NAME: 'image',
          POWERTOOLS_METRICS_NAMESPACE: 'Inferlet',
        }),
      },
    });
  });

  it('sends the function’s logs to its own log group, kept for one month', () => {
    const logGroups = Object.keys(
      template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 } }),
    );

    expect(logGroups).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: logGroups[0] } },
    });
  });

  it('blocks public access to every bucket and encrypts each at rest', () => {
    const buckets = Object.values(template.findResources('AWS::S3::Bucket')) as { Properties: Json }[];

    expect(buckets).toHaveLength(2);
    for (const bucket of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
    }
  });

  it('denies every request that does not use TLS, on both buckets', () => {
    const bucketIds = Object.keys(template.findResources('AWS::S3::Bucket'));

    for (const id of bucketIds) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('keeps the models bucket versioned, retained and logging access to the other bucket', () => {
    const [logsBucketId] = Object.keys(template.findResources('AWS::S3::Bucket')).filter(
      (id) => id !== modelsBucketId,
    );

    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: { Ref: logsBucketId } }),
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('lets the function read the models bucket and nothing else in S3', () => {
    const roleId = (functionResource().properties.Role as { 'Fn::GetAtt': [string, string] })[
      'Fn::GetAtt'
    ][0];
    const role = template.findResources('AWS::IAM::Role')[roleId] as { Properties: Json };
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
      }),
    ) as { Properties: { PolicyDocument: { Statement: Json[] } } }[];
    const s3Statements = policies
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .filter((statement) => [statement.Action].flat().some((action) => String(action).startsWith('s3:')));
    const bucketArn = { 'Fn::GetAtt': [modelsBucketId, 'Arn'] };
    const objectsArn = { 'Fn::Join': ['', [bucketArn, '/*']] };

    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(s3Statements).toEqual(
      expect.arrayContaining([
        { Effect: 'Allow', Action: 's3:GetObject', Resource: objectsArn },
        { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
      ]),
    );
    for (const statement of s3Statements) {
      expect(statement.Effect).toBe('Allow');
      for (const action of [statement.Action].flat())
        expect(['s3:GetObject', 's3:ListBucket']).toContain(action);
      for (const resource of [statement.Resource].flat())
        expect([bucketArn, objectsArn]).toContainEqual(resource);
    }
  });

  it('requires IAM (SigV4) authentication on the function URL', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [functionResource().id, 'Arn'] },
    });
  });

  it('passes the AwsSolutions checks, each remaining finding acknowledged with a reason', () => {
    const report = new AwsSolutionsChecks().validateScope(app);

    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
  });

  it('fails synthesis on an AwsSolutions finding nobody acknowledged', () => {
    const { app: other, stack: otherStack } = newApp();
    new Bucket(otherStack, 'Unlogged', { enforceSSL: true });

    expect(() => other.synth()).toThrow(/AwsSolutions-S1/);
  });
});

/** Links every package of a layer's node_modules into `target`, scoped packages one by one. */
function linkPackages(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (name.startsWith('@')) {
      linkPackages(join(source, name), join(target, name));
    } else {
      symlinkSync(join(source, name), join(target, name));
    }
  }
}
