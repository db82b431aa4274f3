import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App, CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferletApp, MODEL_REPOSITORY_DIR } from '../../infra/app.ts';
import {
  DEFAULT_CONFIG,
  mergeConfig,
  mergeOverDefaults,
  parseConfig,
  TASK_KEYS,
  type TaskKey,
  taskOfKey,
} from '../../infra/config/index.ts';
import type { GpuService } from '../../infra/constructs/gpu-service.ts';
import { resolveDeployment } from '../../infra/deployment.ts';
import { type InferletStack, pascal } from '../../infra/stacks/inferlet-stack.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';
import { importModel } from '../../scripts/import-model.ts';
import { writeBertExport } from '../support/bert-model.ts';

type Json = Record<string, unknown>;
type Resource = { Properties: Json; DependsOn?: string[] };

/** The tasks the default configuration deploys (every task but text-embed, whose model is imported). */
const DEFAULT_KEYS = TASK_KEYS.filter((key) => DEFAULT_CONFIG.tasks[key]);

/** The context `cdk synth` runs with (feature flags), without bundling so synthesis stays fast. */
function synthContext(extra: Json = {}): Json {
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  return { ...context, 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true, ...extra };
}

let workDir: string;
let ortLayer: LayerBuild;
let sharpLayer: LayerBuild;

function newApp(context: Json = {}, repositoryDir?: string): { app: App; stack: InferletStack } {
  return createInferletApp(
    { context: synthContext(context), outdir: mkdtempSync(join(workDir, 'cdk.out-')) },
    {
      nativeLayers: { buildOnnxRuntime: () => ortLayer, buildSharp: () => sharpLayer },
      ...(repositoryDir && { repositoryDir }),
    },
  );
}

/** The S3 permissions of a role's inline policies, as sorted `action resource` lines. */
function s3PermissionsIn(template: Template, roleId: string): string[] {
  const statements = Object.values(
    template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
    }),
  ).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Json[] } } }).Properties.PolicyDocument
        .Statement,
  );
  return statements
    .flatMap((statement) =>
      [statement.Action]
        .flat()
        .flatMap((action) =>
          [statement.Resource].flat().map((resource) => ({ effect: statement.Effect, action, resource })),
        ),
    )
    .filter(({ action }) => String(action).startsWith('s3:'))
    .map(({ effect, action, resource }) => `${effect} ${action} ${JSON.stringify(resource)}`)
    .sort();
}

/** What an upload function of the task with upload segment `segment` may do in S3, beside reading models. */
function uploadPermissions(modelsArn: Json, uploadsArn: Json, segment: string): string[] {
  const allow = (action: string, resource: unknown) => `Allow ${action} ${JSON.stringify(resource)}`;
  const objects = (arn: Json, suffix: string) => ({ 'Fn::Join': ['', [arn, `/${suffix}`]] });
  return [
    allow('s3:GetObject', objects(modelsArn, '*')),
    allow('s3:ListBucket', modelsArn),
    allow('s3:GetObject', objects(uploadsArn, `incoming/${segment}/*`)),
    allow('s3:GetObjectVersion', objects(uploadsArn, `incoming/${segment}/*`)),
    allow('s3:GetObject', objects(uploadsArn, `results/${segment}/*`)),
    allow('s3:PutObject', objects(uploadsArn, `results/${segment}/*`)),
    allow('s3:DeleteObject', objects(uploadsArn, `results/${segment}/*`)),
    allow('s3:GetObject', objects(uploadsArn, `errors/${segment}/*`)),
    allow('s3:PutObject', objects(uploadsArn, `errors/${segment}/*`)),
    allow('s3:DeleteObject', objects(uploadsArn, `errors/${segment}/*`)),
    allow('s3:ListBucket', uploadsArn),
  ].sort();
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
});

describe('the configuration in a synthesis', () => {
  it('deploys no GPU tier by default, and refuses a GPU tier without a region', () => {
    const { tasks } = resolveDeployment(DEFAULT_CONFIG, MODEL_REPOSITORY_DIR);

    expect(tasks.filter((task) => task.gpu)).toEqual([]);
    expect(() => newApp({ inferlet: { tasks: { image: { gpu: {} } } } })).toThrow(
      /region: a GPU tier \(image\) needs the stack's region/,
    );
  });

  it('fails synthesis on an invalid -c inferlet value, and on one that is not JSON', () => {
    expect(() => newApp({ inferlet: '{"api":{"auth":{"type":"jwt","issuer":"http://idp"}}}' })).toThrow(
      /api\.auth\.issuer: must be an https:\/\/ issuer URL[\s\S]*api\.auth\.audience/,
    );
    expect(() => newApp({ inferlet: '{tasks:' })).toThrow(/context inferlet.*not JSON/);
  });

  it('reads a file named by context inferletConfig, then context inferlet over it', () => {
    const file = join(workDir, 'deploy.json');
    writeFileSync(
      file,
      JSON.stringify({ region: 'eu-west-1', tasks: { speech: null, image: { gpu: { maxTasks: 4 } } } }),
    );

    const { stack } = newApp({
      inferletConfig: file,
      inferlet: { tasks: { image: { gpu: { maxTasks: 3 } } } },
    });
    const template = Template.fromStack(stack);

    expect([...stack.lambdaTasks.keys()]).toEqual(['image', 'text']);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MaxCapacity: 3 });
  });
});

describe('the Inferlet stack', () => {
  let app: App;
  let stack: InferletStack;
  let template: Template;

  beforeAll(() => {
    ({ app, stack } = newApp());
    template = Template.fromStack(stack);
  });

  const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const resource = (logicalId: string) => template.toJSON().Resources[logicalId] as Resource;
  const functionsOf = (key: string) => {
    const fns = stack.lambdaTasks.get(key);
    if (!fns?.upload) throw new Error(`no functions for ${key}`);
    return { http: fns.http, upload: fns.upload };
  };
  const s3Permissions = (roleId: string) => s3PermissionsIn(template, roleId);

  it('runs an HTTP and an upload function per task on nodejs22.x and x86_64 with the layers its bundle needs', () => {
    const ort = id(stack.nativeLayers?.onnxRuntime as IConstruct);
    const sharp = id(stack.nativeLayers?.sharp as IConstruct);

    for (const key of DEFAULT_KEYS) {
      const layers = key === 'image' ? [{ Ref: ort }, { Ref: sharp }] : [{ Ref: ort }];
      for (const fn of Object.values(functionsOf(key))) {
        expect(resource(id(fn.function)).Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['x86_64'],
          Handler: 'index.handler',
          Layers: layers,
        });
      }
    }
  });

  it('gives each function the memory and timeout of its configuration', () => {
    for (const key of DEFAULT_KEYS) {
      const settings = DEFAULT_CONFIG.tasks[key]?.lambda;
      const { http, upload } = functionsOf(key);

      expect(resource(id(http.function)).Properties).toMatchObject({
        MemorySize: settings?.http.memoryMb,
        Timeout: settings?.http.timeoutSeconds,
      });
      expect(resource(id(upload.function)).Properties).toMatchObject({
        MemorySize: settings?.upload.memoryMb,
        Timeout: settings?.upload.timeoutSeconds,
      });
    }
  });

  it('points each function at the models bucket, the lambda tier and its pinned model', () => {
    const models = id(stack.models.bucket);
    const expected: Partial<Record<TaskKey, string>> = {
      image: 'ppocr-v4@3',
      text: 'spam-fasttext@2',
      speech: 'silero-vad@1',
    };

    for (const key of DEFAULT_KEYS) {
      const variable = `MODEL_${taskOfKey(key).name.replace('/', '_').toUpperCase()}`;
      const { http, upload } = functionsOf(key);
      for (const fn of [http, upload]) {
        expect(
          (resource(id(fn.function)).Properties.Environment as { Variables: Json }).Variables,
        ).toMatchObject({
          MODEL_REPOSITORY: { 'Fn::Join': ['', ['s3://', { Ref: models }, '/']] },
          MODEL_TIER: 'lambda',
          MODEL_CACHE_DIR: '/tmp/models',
          [variable]: expected[key],
          POWERTOOLS_SERVICE_NAME: 'inferlet-lambda',
          POWERTOOLS_METRICS_NAMESPACE: 'Inferlet',
        });
      }
      expect(
        (resource(id(upload.function)).Properties.Environment as { Variables: Json }).Variables,
      ).toMatchObject({
        MAX_UPLOAD_BYTES: String(DEFAULT_CONFIG.tasks[key]?.uploads.maxUploadBytes),
      });
    }
  });

  it('sends each function’s logs to its own log group, kept as configured', () => {
    for (const key of DEFAULT_KEYS) {
      for (const fn of Object.values(functionsOf(key))) {
        const logGroup = id(fn.logGroup);

        expect(resource(logGroup).Properties.RetentionInDays).toBe(30);
        expect(resource(id(fn.function)).Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logGroup } });
      }
    }
  });

  it('routes each task and its models’ OIP endpoints to the live alias of its HTTP function', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[];
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const target = (route: Resource) => {
      // Target: integrations/<integration id>
      const [, integration] = (
        route.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] }
      )['Fn::Join'][1];
      return (integrations[integration.Ref] as Resource).Properties.IntegrationUri;
    };
    const byKey = new Map(routes.map((route) => [route.Properties.RouteKey, route]));
    const expectRoute = (key: string, uri: unknown) => {
      const route = byKey.get(key);
      expect(route, key).toBeDefined();
      expect(target(route as Resource)).toEqual(uri);
    };

    for (const { key, models } of [
      { key: 'image', models: ['ppocr-v4', 'ppocr-v4-det', 'ppocr-mobile-v2-cls', 'ppocr-v4-rec'] },
      { key: 'text', models: ['spam-fasttext'] },
      { key: 'speech', models: ['silero-vad'] },
    ] as const) {
      const uri = { Ref: id(functionsOf(key).http.target) };
      expectRoute(`POST ${taskOfKey(key).route}`, uri);
      for (const model of models) {
        expectRoute(`GET /v2/models/${model}`, uri);
        expectRoute(`ANY /v2/models/${model}/{proxy+}`, uri);
      }
    }
    expect(routes).toHaveLength(15);
  });

  it('requires IAM authentication on every route, throttles the stage and logs every request', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[];

    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: Match.objectLike({
        DestinationArn: { 'Fn::GetAtt': [id(stack.api.accessLogs), 'Arn'] },
      }),
    });
  });

  it('switches every route to a JWT authorizer with the configured issuer and audience', () => {
    const jwt = Template.fromStack(
      newApp({
        inferlet: {
          api: { auth: { type: 'jwt', issuer: 'https://idp.example.com', audience: ['inferlet'] } },
        },
      }).stack,
    );
    const routes = Object.values(jwt.findResources('AWS::ApiGatewayV2::Route')) as Resource[];

    jwt.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://idp.example.com', Audience: ['inferlet'] },
    });
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('JWT');
  });

  it('sends object-created events under incoming/<task>/ to that task’s queue', () => {
    const [notifications] = Object.values(
      template.findResources('Custom::S3BucketNotifications'),
    ) as Resource[];
    if (!notifications) throw new Error('no bucket notifications');
    const { QueueConfigurations } = notifications.Properties.NotificationConfiguration as {
      QueueConfigurations: Json[];
    };

    expect(notifications.Properties.BucketName).toEqual({ Ref: id(stack.uploads.bucket) });
    expect(QueueConfigurations).toEqual(
      DEFAULT_KEYS.map((key) => ({
        Events: ['s3:ObjectCreated:*'],
        Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: `incoming/${key}/` }] } },
        QueueArn: { 'Fn::GetAtt': [id(stack.uploadQueues.get(key)?.queue as IConstruct), 'Arn'] },
      })),
    );
  });

  it('gives each upload queue an encrypted dead-letter queue and a visibility timeout of six function timeouts', () => {
    for (const key of DEFAULT_KEYS) {
      const uploads = stack.uploadQueues.get(key);
      const queue = resource(id(uploads?.queue as IConstruct)).Properties;
      const deadLetters = resource(id(uploads?.deadLetterQueue as IConstruct)).Properties;

      expect(queue).toMatchObject({
        SqsManagedSseEnabled: true,
        VisibilityTimeout: 6 * (DEFAULT_CONFIG.tasks[key]?.lambda?.upload.timeoutSeconds ?? 0),
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [id(uploads?.deadLetterQueue as IConstruct), 'Arn'] },
          maxReceiveCount: 3,
        },
      });
      expect(deadLetters).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
    }
  });

  it('feeds each queue to its upload function’s live alias with partial batch responses and a concurrency cap', () => {
    for (const key of DEFAULT_KEYS) {
      const upload = DEFAULT_CONFIG.tasks[key]?.lambda?.upload;
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [id(stack.uploadQueues.get(key)?.queue as IConstruct), 'Arn'] },
        // <function name>:live, the name taken from the alias ARN
        FunctionName: {
          'Fn::Join': [
            '',
            [
              { 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: id(functionsOf(key).upload.target) }] }] },
              ':live',
            ],
          ],
        },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: upload?.batchSize,
        ScalingConfig: { MaximumConcurrency: upload?.maxConcurrency },
      });
    }
    expect(DEFAULT_KEYS.map((key) => DEFAULT_CONFIG.tasks[key]?.lambda?.upload.maxConcurrency)).toEqual([
      5, 5, 5,
    ]);
  });

  it('deploys no GPU instance, cluster, VPC or load balancer with the default configuration', () => {
    for (const type of [
      'AWS::EC2::LaunchTemplate',
      'AWS::AutoScaling::AutoScalingGroup',
      'AWS::ECS::Cluster',
      'AWS::ECS::Service',
      'AWS::EC2::VPC',
      'AWS::EC2::NatGateway',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
    ])
      template.resourceCountIs(type, 0);
    expect(stack.gpuServices.size).toBe(0);
  });

  it('sends every object event of the uploads bucket to EventBridge, so a client can wait for results/ and errors/', () => {
    const [notifications] = Object.values(
      template.findResources('Custom::S3BucketNotifications'),
    ) as Resource[];

    expect(notifications?.Properties.NotificationConfiguration).toMatchObject({
      EventBridgeConfiguration: {},
    });
    expect(notifications?.Properties.BucketName).toEqual({ Ref: id(stack.uploads.bucket) });
  });

  it('shifts each function’s live alias with a CodeDeploy canary that its error-rate alarms roll back', () => {
    const groups = Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup')) as Resource[];
    const alarmName = (name: string) => ({
      Ref: id(stack.monitoring.node.findChild(name) as IConstruct),
    });

    expect(groups).toHaveLength(2 * DEFAULT_KEYS.length);
    for (const key of DEFAULT_KEYS) {
      for (const [door, fn] of [
        ['Http', functionsOf(key).http],
        ['Upload', functionsOf(key).upload],
      ] as const) {
        const group = resource(id(fn.node.findChild('Rollout'))).Properties;
        expect(group).toMatchObject({
          DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent15Minutes',
          AutoRollbackConfiguration: {
            Enabled: true,
            Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
          },
        });
        const names = ((group.AlarmConfiguration as { Alarms: { Name: unknown }[] }).Alarms ?? []).map(
          (alarm) => alarm.Name,
        );
        expect(names).toEqual([
          alarmName(`${pascal(key)}${door}ErrorRate`),
          alarmName(`${pascal(key)}${door}FunctionErrorRate`),
        ]);
      }
    }
    const allAtOnce = Template.fromStack(newApp({ inferlet: { rollout: { lambda: 'allAtOnce' } } }).stack);
    allAtOnce.allResourcesProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaAllAtOnce',
    });
  });

  it('lets HTTP functions read the models only, and upload functions also their own upload prefixes', () => {
    const modelsArn = { 'Fn::GetAtt': [id(stack.models.bucket), 'Arn'] };
    const uploadsArn = { 'Fn::GetAtt': [id(stack.uploads.bucket), 'Arn'] };
    const allow = (action: string, resource: unknown) => `Allow ${action} ${JSON.stringify(resource)}`;
    const objects = (arn: Json, suffix: string) => ({ 'Fn::Join': ['', [arn, `/${suffix}`]] });
    const modelReads = [allow('s3:GetObject', objects(modelsArn, '*')), allow('s3:ListBucket', modelsArn)];

    for (const key of DEFAULT_KEYS) {
      const { http, upload } = functionsOf(key);

      expect(s3Permissions(id(http.role))).toEqual(modelReads.sort());
      expect(s3Permissions(id(upload.role))).toEqual(uploadPermissions(modelsArn, uploadsArn, key));
      for (const role of [http.role, upload.role]) {
        expect(resource(id(role)).Properties.ManagedPolicyArns).toBeUndefined();
      }
    }
  });

  it('keeps every bucket private, encrypted and TLS-only, and the models and uploads versioned and logged', () => {
    const buckets = template.findResources('AWS::S3::Bucket') as Record<string, Resource>;
    const logs = id(stack.models.accessLogsBucket);

    expect(Object.keys(buckets)).toHaveLength(3);
    for (const [bucketId, bucket] of Object.entries(buckets)) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
    for (const bucket of [stack.models.bucket, stack.uploads.bucket]) {
      expect(resource(id(bucket)).Properties).toMatchObject({
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: logs } },
      });
    }
  });

  it('expires incoming uploads, moves results to infrequent access before expiring them, expires errors', () => {
    const { Rules } = resource(id(stack.uploads.bucket)).Properties.LifecycleConfiguration as {
      Rules: Json[];
    };
    const rule = (prefix: string) => Rules.find((r) => r.Prefix === prefix);

    expect(rule('incoming/')).toMatchObject({ ExpirationInDays: 7, Status: 'Enabled' });
    expect(rule('results/')).toMatchObject({
      ExpirationInDays: 365,
      Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
    });
    expect(rule('errors/')).toMatchObject({ ExpirationInDays: 30 });
  });

  it('publishes the local model repository at deploy, after a guard of published versions, manifests last, pruning nothing', () => {
    const deployments = template.findResources('Custom::CDKBucketDeployment') as Record<string, Resource>;
    const [filesId, files] = Object.entries(deployments).find(([, d]) => !d.Properties.Include) ?? [];
    const manifests = Object.values(deployments).find((d) => d.Properties.Include);

    expect(Object.keys(deployments)).toHaveLength(2);
    expect(files?.Properties).toMatchObject({
      Prune: false,
      Exclude: ['*/manifest.json'],
      DestinationBucketName: { Ref: id(stack.models.bucket) },
    });
    expect(manifests?.Properties).toMatchObject({
      Prune: false,
      Exclude: ['*'],
      Include: ['*/manifest.json'],
    });
    expect(manifests?.DependsOn).toContain(filesId);
    const guardId = id(stack.modelPublication?.guard as IConstruct);
    expect(files?.DependsOn).toContain(guardId);
    expect(resource(guardId).Properties).toMatchObject({
      Bucket: { Ref: id(stack.models.bucket) },
      Files: expect.arrayContaining([
        expect.stringMatching(/^ppocr-v4-det\/3\/\S+\.onnx [0-9a-f]{64}$/),
        expect.stringMatching(/^spam-fasttext\/2\/manifest\.json [0-9a-f]{64}$/),
      ]),
    });
  });

  it('puts the API, every function and queue on the dashboard with latency, cold start and errors, and no accuracy', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);

    for (const key of DEFAULT_KEYS) {
      for (const fn of Object.values(functionsOf(key)))
        expect(body).toContain(`{"Ref":"${id(fn.function)}"}`);
      const uploads = stack.uploadQueues.get(key);
      for (const queue of [uploads?.queue, uploads?.deadLetterQueue])
        expect(body).toContain(`"${id(queue as IConstruct)}","QueueName"`);
      expect(body).toContain(`task\\",\\"${taskOfKey(key).name}`);
    }
    for (const metric of [
      'Latency',
      'ColdStart',
      'ModelLoadTime',
      'MemoryRss',
      'CpuTime',
      'InferenceLatency',
      'Errors',
    ])
      expect(body).toContain(`\\"${metric}\\"`);
    for (const dimension of [
      '\\"statusClass\\",\\"4xx\\"',
      '\\"statusClass\\",\\"5xx\\"',
      '\\"source\\",\\"upload\\"',
    ])
      expect(body).toContain(dimension);
    expect(body).toContain(`\\"AWS/ApiGateway\\",\\"5xx\\",\\"ApiId\\",\\"",{"Ref":"${id(stack.api.api)}"}`);
    expect(body).toContain('\\"p99\\"');
    // `npm run eval` publishes on a workstation, never in AWS: a widget for it would stay empty.
    expect(body).not.toContain('Accuracy');
  });

  it('alarms on the 5xx rate of every task’s HTTP requests and uploads, from the EMF Errors and Requests', () => {
    for (const key of DEFAULT_KEYS) {
      for (const [door, source] of [
        ['Http', 'http'],
        ['Upload', 'upload'],
      ] as const) {
        const alarm = stack.monitoring.node.tryFindChild(`${pascal(key)}${door}ErrorRate`) as IConstruct;
        const { Metrics: metrics } = resource(id(alarm)).Properties as { Metrics: Json[] };
        const stat = (name: string) =>
          (metrics.find((m) => m.Id === name)?.MetricStat as Json | undefined)?.Metric as Json;
        const dimensions = { service: 'inferlet-lambda', task: taskOfKey(key).name, source };

        expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe(
          'IF(requests0 > 0, 100 * (FILL(errors0, 0)) / requests0, 0)',
        );
        // CloudFormation lists an alarm's dimensions sorted by name.
        const sorted = (map: Record<string, string>) =>
          Object.entries(map)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([Name, Value]) => ({ Name, Value }));
        expect(stat('requests0')).toEqual({
          Namespace: 'Inferlet',
          MetricName: 'Requests',
          Dimensions: sorted(dimensions),
        });
        expect(stat('errors0')).toEqual({
          Namespace: 'Inferlet',
          MetricName: 'Errors',
          Dimensions: sorted({ ...dimensions, statusClass: '5xx' }),
        });
      }
    }
  });

  it('alarms on error rate, p99 anomalies, near-timeouts and throttles of every function, and on dead letters', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const topic = id(stack.monitoring.topic);
    const onFunction = (fnId: string) =>
      alarms.filter((alarm) =>
        JSON.stringify(alarm.Properties).includes(`{"Name":"FunctionName","Value":{"Ref":"${fnId}"}}`),
      );

    for (const key of DEFAULT_KEYS) {
      for (const fn of Object.values(functionsOf(key))) {
        const own = onFunction(id(fn.function));
        const expressions = own
          .flatMap((a) => (a.Properties.Metrics as Json[] | undefined) ?? [])
          .map((m) => m.Expression);

        expect(own).toHaveLength(4);
        expect(expressions).toContain('IF(invocations > 0, 100 * errors / invocations, 0)');
        expect(expressions).toContainEqual(expect.stringMatching(/^ANOMALY_DETECTION_BAND\(m\d+, 3\)$/));
        expect(own.map((a) => a.Properties.MetricName)).toContain('Throttles');
        for (const alarm of own) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      }
      const deadLetters = id(stack.uploadQueues.get(key)?.deadLetterQueue as IConstruct);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetters, 'QueueName'] } }],
        Threshold: 1,
        AlarmActions: [{ Ref: topic }],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::AnomalyDetector', {
      SingleMetricAnomalyDetector: Match.objectLike({ MetricName: 'Duration', Stat: 'p99' }),
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('keeps provisioned environments on a live alias that the API and the queue invoke', () => {
    const { stack: provisioned } = newApp({
      inferlet: {
        tasks: {
          text: {
            lambda: {
              http: { reservedConcurrency: 20, provisionedConcurrency: 2 },
              upload: { provisionedConcurrency: 1 },
            },
          },
        },
      },
    });
    const provisionedTemplate = Template.fromStack(provisioned);
    const text = provisioned.lambdaTasks.get('text');
    const logicalId = (construct: IConstruct) =>
      provisioned.getLogicalId(construct.node.defaultChild as CfnElement);
    const alias = (fn: IConstruct | undefined) =>
      logicalId(fn?.node.findChild('Function').node.findChild('Aliaslive') as IConstruct);

    provisionedTemplate.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.absent(),
      ReservedConcurrentExecutions: 20,
      Description: Match.stringLikeRegexp('^text/classify over HTTP'),
    });
    provisionedTemplate.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    provisionedTemplate.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationUri: { Ref: alias(text?.http) },
    });
    provisionedTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: {
        'Fn::GetAtt': [logicalId(provisioned.uploadQueues.get('text')?.queue as IConstruct), 'Arn'],
      },
      // <function name>:live, the name taken from the alias ARN
      FunctionName: {
        'Fn::Join': [
          '',
          [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: alias(text?.upload) }] }] }, ':live'],
        ],
      },
    });
    expect(() =>
      parseConfig(
        mergeConfig(DEFAULT_CONFIG, {
          tasks: { text: { lambda: { http: { reservedConcurrency: 1, provisionedConcurrency: 2 } } } },
        }),
      ),
    ).toThrow(
      /tasks\.text\.lambda\.http\.provisionedConcurrency: is 2, more than the reservedConcurrency of 1/,
    );
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

/** text/embed on Lambda serving the encoder imported as `minilm`, beside text/classify. */
const EMBED_ON_LAMBDA = {
  tasks: { image: null, speech: null, 'text-embed': { lambda: { model: { name: 'minilm' } } } },
} as const;

describe('a deployment that names an imported encoder for text-embed', () => {
  let repository: string;
  let app: App;
  let stack: InferletStack;
  let template: Template;

  beforeAll(async () => {
    // A repository of its own (the deploy publishes the one it resolves against): the shipped text model,
    // an encoder and a classifier imported from Hugging Face-style exports.
    repository = join(workDir, 'repository');
    cpSync(join(MODEL_REPOSITORY_DIR, 'spam-fasttext'), join(repository, 'spam-fasttext'), {
      recursive: true,
    });
    await writeBertExport(join(workDir, 'encoder-export'), { head: 'encoder', seed: 5 });
    await writeBertExport(join(workDir, 'classifier-export'), { head: 'classifier', labels: 2, seed: 6 });
    for (const [name, from] of [
      ['minilm', 'encoder-export'],
      ['huge-encoder', 'encoder-export'],
      ['sentiment', 'classifier-export'],
    ]) {
      await importModel([
        '--from',
        join(workDir, from as string),
        '--name',
        name as string,
        '--repository',
        repository,
      ]);
    }
    ({ app, stack } = newApp({ inferlet: EMBED_ON_LAMBDA }, repository));
    template = Template.fromStack(stack);
  });

  const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const resource = (logicalId: string) => template.toJSON().Resources[logicalId] as Resource;
  const embed = () => {
    const fns = stack.lambdaTasks.get('text-embed');
    if (!fns?.upload) throw new Error('no text-embed functions');
    return { http: fns.http, upload: fns.upload };
  };
  const variables = (fn: IConstruct) =>
    (resource(id(fn)).Properties.Environment as { Variables: Json }).Variables;

  it('runs an HTTP and an upload function for text/embed with MODEL_TEXT_EMBED pinned to the encoder', () => {
    const ort = id(stack.nativeLayers?.onnxRuntime as IConstruct);
    const { http, upload } = embed();

    expect([...stack.lambdaTasks.keys()]).toEqual(['text', 'text-embed']);
    for (const [fn, door] of [
      [http, 'over HTTP'],
      [upload, 'of uploads under incoming/text/embed/'],
    ] as const) {
      expect(resource(id(fn.function)).Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['x86_64'],
        Layers: [{ Ref: ort }],
        MemorySize: 2048,
        Description: `text/embed ${door} (minilm@1, fp32)`,
      });
      expect(variables(fn.function)).toMatchObject({ MODEL_TEXT_EMBED: 'minilm@1', MODEL_TIER: 'lambda' });
      expect(variables(fn.function)).not.toHaveProperty('MODEL_TEXT_CLASSIFY');
    }
    expect(variables(upload.function)).toMatchObject({ MAX_UPLOAD_BYTES: String(10 * 1024 * 1024) });
    expect(variables(stack.lambdaTasks.get('text')?.http.function as IConstruct)).toMatchObject({
      MODEL_TEXT_CLASSIFY: 'spam-fasttext@2',
    });
  });

  it('routes POST /v1/text/embed and the encoder’s OIP endpoints to the live alias of its HTTP function', () => {
    const integrationOf = (routeKey: string) => {
      const [route] = Object.values(
        template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey } }),
      ) as Resource[];
      if (!route) throw new Error(`no route ${routeKey}`);
      const [, integration] = (
        route.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] }
      )['Fn::Join'][1];
      return resource(integration.Ref).Properties.IntegrationUri;
    };
    const alias = { Ref: id(embed().http.target) };

    for (const routeKey of ['POST /v1/text/embed', 'GET /v2/models/minilm', 'ANY /v2/models/minilm/{proxy+}'])
      expect(integrationOf(routeKey)).toEqual(alias);
    expect(integrationOf('POST /v1/text/classify')).toEqual({
      Ref: id(stack.lambdaTasks.get('text')?.http.target as IConstruct),
    });
  });

  it('sends incoming/text/ to a topic whose subscriptions give incoming/text/embed/ to the embed queue and the rest to text/classify', () => {
    const [notifications] = Object.values(
      template.findResources('Custom::S3BucketNotifications'),
    ) as Resource[];
    if (!notifications) throw new Error('no bucket notifications');
    const queueArn = (key: string) => ({
      'Fn::GetAtt': [id(stack.uploadQueues.get(key)?.queue as IConstruct), 'Arn'],
    });
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    const byKey = (condition: Json) => ({ Records: { s3: { object: { key: [condition] } } } });

    // S3 refuses overlapping prefixes (incoming/text/ and incoming/text/embed/) for one event type.
    expect(notifications.Properties.NotificationConfiguration).toEqual({
      EventBridgeConfiguration: {},
      TopicConfigurations: [
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/text/' }] } },
          TopicArn: { Ref: topicId },
        },
      ],
    });
    template.resourceCountIs('AWS::SNS::Subscription', 2);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: topicId },
      Endpoint: queueArn('text-embed'),
      RawMessageDelivery: true,
      FilterPolicyScope: 'MessageBody',
      FilterPolicy: byKey({ prefix: 'incoming/text/embed/' }),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: topicId },
      Endpoint: queueArn('text'),
      RawMessageDelivery: true,
      FilterPolicyScope: 'MessageBody',
      FilterPolicy: byKey({ 'anything-but': { prefix: 'incoming/text/embed/' } }),
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: queueArn('text-embed'),
      FunctionName: {
        'Fn::Join': [
          '',
          [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: id(embed().upload.target) }] }] }, ':live'],
        ],
      },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    expect(resource(id(stack.uploadQueues.get('text-embed')?.queue as IConstruct)).Properties).toMatchObject({
      VisibilityTimeout: 6 * 300,
    });
  });

  it('lets the embed HTTP function read the models only, and its upload function also incoming/, results/ and errors/text/embed/', () => {
    const modelsArn = { 'Fn::GetAtt': [id(stack.models.bucket), 'Arn'] };
    const uploadsArn = { 'Fn::GetAtt': [id(stack.uploads.bucket), 'Arn'] };
    const { http, upload } = embed();

    expect(s3PermissionsIn(template, id(http.role))).toEqual(
      [
        `Allow s3:GetObject ${JSON.stringify({ 'Fn::Join': ['', [modelsArn, '/*']] })}`,
        `Allow s3:ListBucket ${JSON.stringify(modelsArn)}`,
      ].sort(),
    );
    expect(s3PermissionsIn(template, id(upload.role))).toEqual(
      uploadPermissions(modelsArn, uploadsArn, 'text/embed'),
    );
  });

  it('graphs text/embed on the dashboard and alarms on its functions, queue and dead letters', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    const errorRate = resource(id(stack.monitoring.node.findChild('TextEmbedHttpErrorRate'))).Properties;

    expect(body).toContain('task\\",\\"text/embed');
    expect(body).toContain('model\\",\\"minilm@1');
    for (const name of [
      'TextEmbedHttpErrorRate',
      'TextEmbedHttpFunctionErrorRate',
      'TextEmbedUploadErrorRate',
      'TextEmbedUploadFunctionErrorRate',
      'TextEmbedDeadLetters',
      'TextEmbedOldestUpload',
    ])
      expect(stack.monitoring.node.tryFindChild(name), name).toBeDefined();
    expect(JSON.stringify(errorRate.Metrics)).toContain('{"Name":"task","Value":"text/embed"}');
  });

  it('passes the AwsSolutions checks', () => {
    expect(new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('refuses at synthesis an encoder too large for a Lambda function and points at the GPU tier', () => {
    const manifestPath = join(repository, 'huge-encoder', '1', 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      files: { path: string; bytes: number }[];
    };
    for (const file of manifest.files) if (file.path === 'model.onnx') file.bytes = 700 * 1024 * 1024;
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const config = parseConfig(
      mergeOverDefaults({
        tasks: { ...EMBED_ON_LAMBDA.tasks, 'text-embed': { lambda: { model: { name: 'huge-encoder' } } } },
      }),
    );

    const resolve = () => resolveDeployment(config, repository);

    expect(resolve).toThrow(
      /tasks\.text-embed\.lambda\.model: model huge-encoder@1 \(fp32\) is 7\d\d MB of files, more than a Lambda function's \/tmp/,
    );
    expect(resolve).toThrow(
      'serve it from the GPU tier instead (tasks.text-embed.gpu, with tasks.text-embed.lambda null)',
    );
  });

  it('refuses a classifier named for text-embed, and an encoder that was never imported, saying what to do', () => {
    const naming = (model: Json) =>
      parseConfig(
        mergeOverDefaults({ tasks: { ...EMBED_ON_LAMBDA.tasks, 'text-embed': { lambda: { model } } } }),
      );

    expect(() => resolveDeployment(naming({ name: 'sentiment' }), repository)).toThrow(
      "tasks.text-embed.lambda.model: model sentiment@1 is a text/classify model (its manifest's task) and cannot serve text/embed",
    );
    expect(() => resolveDeployment(naming({}), repository)).toThrow(
      /tasks\.text-embed\.lambda\.model: model text-embedding is not in the local model repository .*npm run models:import -- --from <export> --name text-embedding/,
    );
  });

  it('serves text/embed from a GPU service of its own under /gpu/text-embed/ that consumes incoming/text/embed/', () => {
    const { app: gpuApp, stack: gpuStack } = newApp(
      {
        inferlet: {
          region: 'eu-west-1',
          tasks: {
            image: null,
            text: null,
            speech: null,
            'text-embed': {
              lambda: null,
              gpu: { model: { name: 'minilm' } },
              uploads: { consumers: ['gpu'] },
            },
          },
        },
      },
      repository,
    );
    const gpuTemplate = Template.fromStack(gpuStack);
    const service = gpuStack.gpuServices.get('text-embed');
    if (!service) throw new Error('no GPU service for text-embed');
    const logicalId = (construct: IConstruct) =>
      gpuStack.getLogicalId(construct.node.defaultChild as CfnElement);
    const containers = (gpuTemplate.toJSON().Resources[logicalId(service.taskDefinition)] as Resource)
      .Properties.ContainerDefinitions as Json[];
    const bucketArn = (bucket: IConstruct) => ({ 'Fn::GetAtt': [logicalId(bucket), 'Arn'] });

    expect(gpuStack.lambdaTasks.size).toBe(0);
    expect(containers.find((c) => c.Name === 'server')?.Environment).toEqual(
      expect.arrayContaining([
        { Name: 'TASKS', Value: 'text/embed' },
        { Name: 'MODEL_TEXT_EMBED', Value: 'minilm@1' },
        {
          Name: 'UPLOAD_QUEUE_URLS',
          Value: { Ref: logicalId(gpuStack.uploadQueues.get('text-embed')?.queue as IConstruct) },
        },
      ]),
    );
    gpuTemplate.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'ANY /gpu/text-embed/{proxy+}',
    });
    // Alone in its modality, the task gets a notification of its own path straight to its queue.
    gpuTemplate.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/text/embed/' }] } },
            QueueArn: {
              'Fn::GetAtt': [logicalId(gpuStack.uploadQueues.get('text-embed')?.queue as IConstruct), 'Arn'],
            },
          },
        ],
      },
    });
    expect(s3PermissionsIn(gpuTemplate, logicalId(service.taskDefinition.taskRole))).toEqual(
      expect.arrayContaining(
        uploadPermissions(
          bucketArn(gpuStack.models.bucket),
          bucketArn(gpuStack.uploads.bucket),
          'text/embed',
        ),
      ),
    );
    expect(gpuStack.monitoring.node.tryFindChild('GpuTextEmbedErrorRate')).toBeDefined();
    expect(new AwsSolutionsChecks().validateScope(gpuApp).violations.map((v) => v.ruleName)).toEqual([]);
  });
});

/** A GPU tier for OCR that serves HTTP and consumes the image uploads, in a region. */
const GPU_IMAGE = {
  region: 'eu-west-1',
  tasks: { image: { gpu: {}, uploads: { consumers: ['gpu'] } } },
} as const;

describe('the GPU tier', () => {
  let app: App;
  let stack: InferletStack;
  let template: Template;
  let gpu: GpuService;

  beforeAll(() => {
    ({ app, stack } = newApp({ inferlet: GPU_IMAGE }));
    template = Template.fromStack(stack);
    const service = stack.gpuServices.get('image');
    if (!service) throw new Error('no GPU service for image');
    gpu = service;
  });

  const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const resource = (logicalId: string) => template.toJSON().Resources[logicalId] as Resource;
  const statementsOf = (role: IConstruct) =>
    Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: Match.arrayWith([{ Ref: id(role) }]) },
      }),
    ).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: Json[] } } }).Properties.PolicyDocument
          .Statement,
    );
  const userData = () => {
    const launchTemplate = Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0] as Resource;
    return JSON.stringify((launchTemplate.Properties.LaunchTemplateData as Json).UserData);
  };

  it('runs the service on Amazon Linux 2023 GPU instances, one GPU per server, checked on /v2/health/ready', () => {
    const containers = resource(id(gpu.taskDefinition)).Properties.ContainerDefinitions as Json[];
    const server = containers.find((c) => c.Name === 'server');

    expect(server?.ResourceRequirements).toEqual([{ Type: 'GPU', Value: '1' }]);
    expect(server?.Environment).toEqual(
      expect.arrayContaining([
        { Name: 'MODEL_TIER', Value: 'gpu' },
        // The WebGPU image: each model on the provider fastest on its served shapes (docs/gpu.md).
        { Name: 'EXECUTION_PROVIDER', Value: 'auto' },
        { Name: 'TASKS', Value: 'image/ocr' },
        { Name: 'MODEL_IMAGE_OCR', Value: 'ppocr-v4@3' },
        {
          Name: 'UPLOAD_QUEUE_URLS',
          Value: { Ref: id(stack.uploadQueues.get('image')?.queue as IConstruct) },
        },
      ]),
    );
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        ImageId: { Ref: Match.stringLikeRegexp('amazonlinux2023gpurecommendedimageid') },
        InstanceType: 'g4dn.xlarge',
        MetadataOptions: Match.objectLike({ HttpTokens: 'required' }),
      }),
    });
    expect(JSON.stringify(template.toJSON().Parameters)).toContain(
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
    );
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [
        { CapacityProvider: { Ref: Match.stringLikeRegexp('GpuImageCapacity') }, Weight: 1 },
      ],
      DesiredCount: 1,
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/v2/health/ready',
      Matcher: { HttpCode: '200' },
      Port: 8080,
      TargetType: 'ip',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
  });

  it('keeps the instance role from containers and gives it only what the ECS and CloudWatch agents call', () => {
    const actions = statementsOf(gpu.node.findChild('InstanceRole'))
      .flatMap((statement) => [statement.Action].flat())
      .sort();

    expect(resource(id(gpu.taskDefinition)).Properties.NetworkMode).toBe('awsvpc');
    expect(userData()).toContain('ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config');
    expect(actions).toEqual(
      [
        'cloudwatch:PutMetricData',
        'ec2:DescribeTags',
        'ecs:DeregisterContainerInstance',
        'ecs:DiscoverPollEndpoint',
        'ecs:Poll',
        'ecs:RegisterContainerInstance',
        'ecs:StartTelemetrySession',
        'ecs:Submit*',
      ].sort(),
    );
  });

  it('pulls the Fluent Bit image from its own repository only', () => {
    const pulls = statementsOf(gpu.taskDefinition.obtainExecutionRole()).filter((statement) =>
      [statement.Action].flat().includes('ecr:BatchGetImage'),
    );
    const resources = pulls.flatMap((statement) => [statement.Resource].flat());

    expect(resources).toContainEqual('arn:aws:ecr:eu-west-1:*:repository/aws-for-fluent-bit');
    expect(resources).not.toContain('*');
    const router = (resource(id(gpu.taskDefinition)).Properties.ContainerDefinitions as Json[]).find(
      (c) => c.Name === 'LogRouter',
    );
    expect(JSON.stringify(router?.Image)).toContain('SsmParameterValueawsserviceawsforfluentbitstable');
  });

  it('writes the load balancer’s access logs to the access-log bucket', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: id(stack.models.accessLogsBucket) } },
        { Key: 'access_logs.s3.prefix', Value: 'gpu-alb/image' },
      ]),
    });
  });

  it('routes /gpu/image to the service’s load balancer with the prefix cut off', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /gpu/image/{proxy+}' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      ConnectionType: 'VPC_LINK',
      IntegrationUri: { Ref: id(gpu.listener) },
      RequestParameters: { 'overwrite:path': '/$request.path.proxy' },
    });
  });

  it('scales on requests per task and on upload messages per running task, out and in', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 2,
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
        TargetValue: 600,
      }),
    });
    const backlogAlarms = (
      Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[]
    ).filter((alarm) => JSON.stringify(alarm.Properties.AlarmActions).includes('UploadBacklog'));
    const expressions = backlogAlarms.map(
      (alarm) => (alarm.Properties.Metrics as Json[]).find((m) => m.Expression)?.Expression,
    );

    expect(backlogAlarms.map((alarm) => JSON.stringify(alarm.Properties.AlarmActions))).toEqual([
      expect.stringContaining('UploadBacklogLowerPolicy'),
      expect.stringContaining('UploadBacklogUpperPolicy'),
    ]);
    expect(backlogAlarms.map((alarm) => alarm.Properties.Threshold)).toEqual([10, 20]);
    expect(expressions[0]).toBe(
      'IF(FILL(running, 0) > 0, (waiting0 + FILL(inflight0, 0)) / FILL(running, 0), IF((waiting0 + FILL(inflight0, 0)) > 0, 20, 0))',
    );
    const running = ((backlogAlarms[0]?.Properties.Metrics ?? []) as Json[]).find((m) => m.Id === 'running');
    expect(running?.MetricStat).toMatchObject({
      Metric: {
        Namespace: 'ECS/ContainerInsights',
        MetricName: 'RunningTaskCount',
        Dimensions: [
          { Name: 'ClusterName', Value: { Ref: id(stack.gpuCluster as IConstruct) } },
          { Name: 'ServiceName', Value: { 'Fn::GetAtt': [id(gpu.service), 'Name'] } },
        ],
      },
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: Match.objectLike({
        StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }],
      }),
    });
  });

  it('scales out on the admission queue, by its wait or at once when requests are shed, and in when it is empty', () => {
    const queueAlarms = (
      Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[]
    ).filter((alarm) => JSON.stringify(alarm.Properties.AlarmActions).includes('QueueWait'));
    const metrics = (queueAlarms[0]?.Properties.Metrics ?? []) as Json[];

    expect(
      queueAlarms.map((alarm) => alarm.Properties.Threshold).sort((a, b) => Number(a) - Number(b)),
    ).toEqual([250, 2000]);
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('IF(FILL(shed, 0) > 0, 10000, FILL(wait, 0))');
    for (const [id, name, stat] of [
      ['wait', 'QueueWait', 'Average'],
      ['shed', 'Shed', 'Sum'],
    ]) {
      expect(metrics.find((m) => m.Id === id)?.MetricStat).toMatchObject({
        Metric: {
          Namespace: 'Inferlet',
          MetricName: name,
          Dimensions: [
            { Name: 'service', Value: expect.any(String) },
            { Name: 'task', Value: 'image/ocr' },
          ],
        },
        Stat: stat,
      });
    }
  });

  it('gives the server 25 s to drain on SIGTERM within a 30 s container stop timeout', () => {
    const definition = resource(id(gpu.taskDefinition)).Properties;
    const server = (definition.ContainerDefinitions as Json[]).find((c) => c.Name === 'server') as Json;
    const environment = Object.fromEntries(
      (server.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );

    expect(server.StopTimeout).toBe(30);
    expect(environment.STOP_TIMEOUT_MS).toBe('25000');
    expect(environment.ADMISSION_MAX_WAIT_MS).toBe('10000');
  });

  it('scales an upload-only service from zero, without a route or request-count scaling', () => {
    const { stack: worker } = newApp({
      inferlet: {
        region: 'eu-west-1',
        tasks: { image: { gpu: { minTasks: 0, serveHttp: false }, uploads: { consumers: ['gpu'] } } },
      },
    });
    const workerTemplate = Template.fromStack(worker);
    const routes = (
      Object.values(workerTemplate.findResources('AWS::ApiGatewayV2::Route')) as Resource[]
    ).map((route) => route.Properties.RouteKey);

    workerTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 0 });
    workerTemplate.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 0 });
    workerTemplate.resourcePropertiesCountIs(
      'AWS::ApplicationAutoScaling::ScalingPolicy',
      { PolicyType: 'TargetTrackingScaling' },
      0,
    );
    expect(routes).not.toContain('ANY /gpu/image/{proxy+}');
    expect(worker.monitoring.node.tryFindChild('GpuImageHealthyBelowMinimum')).toBeUndefined();
  });

  it('rolls a deployment back when its tasks do not start or its error alarms go off', () => {
    const service = resource(id(gpu.service)).Properties;
    const names = (service.DeploymentConfiguration as { Alarms: { AlarmNames: unknown[] } }).Alarms
      .AlarmNames;

    expect(service.DeploymentConfiguration).toMatchObject({
      DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      Alarms: { Enable: true, Rollback: true },
    });
    expect(names).toEqual(
      ['GpuImageErrorRate', 'GpuImageUploadErrorRate', 'GpuImageLoadBalancer5xxRate'].map((name) => ({
        Ref: id(stack.monitoring.node.findChild(name)),
      })),
    );
  });

  it('routes the container’s output through FireLens to CloudWatch Logs in the EMF format', () => {
    const containers = resource(id(gpu.taskDefinition)).Properties.ContainerDefinitions as Json[];

    expect(containers.find((c) => c.Name === 'LogRouter')?.FirelensConfiguration).toEqual({
      Type: 'fluentbit',
    });
    expect(containers.find((c) => c.Name === 'server')?.LogConfiguration).toMatchObject({
      LogDriver: 'awsfirelens',
      Options: {
        Name: 'cloudwatch_logs',
        region: 'eu-west-1',
        log_format: 'json/emf',
        log_key: 'log',
        log_group_name: { Ref: id(gpu.logGroup) },
      },
    });
  });

  it('alarms on the load balancer’s 5xx including its own, on fewer healthy tasks than the minimum, and on GPU errors', () => {
    const alarm = (name: string) =>
      resource(id(stack.monitoring.node.findChild(`GpuImage${name}`))).Properties;
    const lb5xx = alarm('LoadBalancer5xxRate');
    const metricNames = (lb5xx.Metrics as Json[]).flatMap((m) =>
      m.MetricStat ? [((m.MetricStat as Json).Metric as Json).MetricName] : [],
    );

    expect((lb5xx.Metrics as Json[]).find((m) => m.Expression)?.Expression).toBe(
      'IF(requests > 0, 100 * (FILL(targetErrors, 0) + FILL(ownErrors, 0)) / requests, 0)',
    );
    expect(metricNames.sort()).toEqual([
      'HTTPCode_ELB_5XX_Count',
      'HTTPCode_Target_5XX_Count',
      'RequestCount',
    ]);
    expect(alarm('HealthyBelowMinimum')).toMatchObject({
      MetricName: 'HealthyHostCount',
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    for (const name of ['ErrorRate', 'UploadErrorRate', 'LatencyAnomaly', 'Unhealthy'])
      expect(stack.monitoring.node.tryFindChild(`GpuImage${name}`), name).toBeDefined();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              MetricName: 'Errors',
              Dimensions: Match.arrayWith([{ Name: 'service', Value: 'inferlet-gpu' }]),
            }),
          }),
        }),
      ]),
    });
  });

  it('puts the service’s GPU, load balancer and task metrics on the dashboard', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);

    for (const metric of ['nvidia_smi_utilization_gpu', 'HTTPCode_ELB_5XX_Count', 'HealthyHostCount'])
      expect(body).toContain(metric);
  });

  it('passes the AwsSolutions checks', () => {
    expect(new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('gives each GPU task a service of its own sizing in the shared cluster, routed under /gpu/<task> when it serves HTTP', () => {
    const { app: twoGpuApp, stack: twoGpu } = newApp({
      inferlet: {
        region: 'eu-west-1',
        tasks: {
          image: {
            gpu: { instanceType: 'g5.xlarge', minTasks: 0, maxTasks: 3, serveHttp: false },
            uploads: { consumers: ['gpu'] },
          },
          text: { gpu: { instanceType: 'g6.2xlarge', maxTasks: 4, requestsPerTarget: 900 } },
        },
      },
    });
    const twoGpuTemplate = Template.fromStack(twoGpu);
    const logicalId = (construct: IConstruct) =>
      twoGpu.getLogicalId(construct.node.defaultChild as CfnElement);
    const resources = twoGpuTemplate.toJSON().Resources as Record<string, Resource>;
    const image = twoGpu.gpuServices.get('image');
    const text = twoGpu.gpuServices.get('text');
    if (!image || !text) throw new Error('expected GPU services for image and text');

    expect([...twoGpu.gpuServices.keys()]).toEqual(['image', 'text']);
    twoGpuTemplate.resourceCountIs('AWS::ECS::Service', 2);
    twoGpuTemplate.resourceCountIs('AWS::ECS::Cluster', 1);
    twoGpuTemplate.resourceCountIs('AWS::EC2::VPC', 1);
    twoGpuTemplate.resourceCountIs('AWS::ApiGatewayV2::VpcLink', 1);
    expect(image.cluster).toBe(text.cluster);
    for (const [service, instanceType, minTasks, maxTasks, task, requests] of [
      [image, 'g5.xlarge', 0, 3, 'image/ocr', undefined],
      [text, 'g6.2xlarge', 1, 4, 'text/classify', 900],
    ] as const) {
      const group = (resources[logicalId(service.autoScalingGroup)] as Resource).Properties;
      const { LaunchTemplateId } = group.LaunchTemplate as { LaunchTemplateId: { Ref: string } };
      const launchTemplate = (resources[LaunchTemplateId.Ref] as Resource).Properties;
      expect(launchTemplate.LaunchTemplateData).toMatchObject({ InstanceType: instanceType });
      expect(group.MaxSize).toBe(String(maxTasks + 1));
      const ecsService = (resources[logicalId(service.service)] as Resource).Properties;
      expect(ecsService.DesiredCount).toBe(minTasks);
      expect(ecsService.Cluster).toEqual({ Ref: logicalId(twoGpu.gpuCluster as IConstruct) });
      const containers = resources[logicalId(service.taskDefinition)]?.Properties
        .ContainerDefinitions as Json[];
      expect(containers.find((c) => c.Name === 'server')?.Environment).toContainEqual({
        Name: 'TASKS',
        Value: task,
      });
      twoGpuTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: minTasks,
        MaxCapacity: maxTasks,
      });
      if (requests)
        twoGpuTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
          TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: requests }),
        });
    }
    const routes = (
      Object.values(twoGpuTemplate.findResources('AWS::ApiGatewayV2::Route')) as Resource[]
    ).map((r) => r.Properties.RouteKey);
    expect(routes).toContain('ANY /gpu/text/{proxy+}');
    expect(routes).not.toContain('ANY /gpu/image/{proxy+}');
    expect(routes).not.toContain('ANY /gpu/{proxy+}');
    for (const name of ['Image', 'Text'])
      for (const alarm of ['ErrorRate', 'LoadBalancer5xxRate', 'LatencyAnomaly', 'Unhealthy'])
        expect(twoGpu.monitoring.node.tryFindChild(`Gpu${name}${alarm}`), `Gpu${name}${alarm}`).toBeDefined();
    expect(new AwsSolutionsChecks().validateScope(twoGpuApp).violations.map((v) => v.ruleName)).toEqual([]);
  });
});
