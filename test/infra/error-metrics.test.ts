import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdmissionControl } from '../../functions/core/admission.ts';
import { createHttpApp } from '../../functions/core/http/app.ts';
import { InferenceService } from '../../functions/core/inference-service.ts';
import { OUTCOME_METRICS } from '../../functions/core/metric-names.ts';
import { InferenceMetrics } from '../../functions/core/metrics.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import { UploadProcessor } from '../../functions/core/uploads/upload-processor.ts';
import { DEFAULT_TASKS } from '../../functions/tasks.ts';
import { createInferletApp } from '../../infra/app.ts';
import { pngHeaderOnly } from '../support/bad-images.ts';
import { jsonLinesOf } from '../support/json-lines.ts';
import { S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverHandle, startS3rver } from '../support/s3rver.ts';

type Json = Record<string, unknown>;
/** One EMF record as Powertools writes it. */
interface EmfRecord {
  readonly _aws: {
    readonly CloudWatchMetrics: {
      readonly Namespace: string;
      readonly Dimensions: string[][];
      readonly Metrics: { Name: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}
/** One metric an alarm reads, as the template states it. */
interface AlarmMetric {
  readonly alarm: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, unknown>>;
}

const BUCKET = 'uploads';
/** What a client sends that each task must refuse with a 4xx. */
const BROKEN = {
  'image/ocr': { body: pngHeaderOnly(32, 32), type: 'image/png', file: 'scan.png' },
  'text/classify': {
    body: new TextEncoder().encode('{"text": "unterminated'),
    type: 'application/json',
    file: 'mail.json',
  },
  'speech/vad': {
    body: new TextEncoder().encode('RIFF\u0004\u0000\u0000\u0000WAVEjunk'),
    type: 'audio/wav',
    file: 'call.wav',
  },
} as const satisfies Record<string, { body: Uint8Array; type: string; file: string }>;

/**
 * The stack as `cdk synth` makes it with `cdk.json`'s feature flags and both tiers (the default configuration
 * plus OCR's opt-in GPU tier, which takes the image uploads), without bundling and with empty native layers:
 * neither holds a metric or an alarm.
 */
async function synthesise(workDir: string): Promise<Template> {
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const layer = join(workDir, 'empty-layer');
  await mkdir(layer);
  const emptyLayer = () => ({ directory: layer, files: [], unzippedBytes: 0 });
  const { stack } = createInferletApp(
    {
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:disable-asset-staging': true,
        inferlet: { region: 'eu-west-1', tasks: { image: { gpu: {}, uploads: { consumers: ['gpu'] } } } },
      },
      outdir: join(workDir, 'cdk.out'),
    },
    { nativeLayers: { buildOnnxRuntime: emptyLayer, buildSharp: emptyLayer } },
  );
  return Template.fromStack(stack);
}

/** `POWERTOOLS_SERVICE_NAME` and `_METRICS_NAMESPACE` of every function and container the stack runs. */
function emittersOf(template: Template): { service: string; namespace: string; server: boolean }[] {
  const lambda = Object.values(template.findResources('AWS::Lambda::Function')).map(
    (fn) => ((fn.Properties as Json).Environment as { Variables?: Json } | undefined)?.Variables ?? {},
  );
  // Containers run the server (functions/server/main.ts), which puts its inferences under admission control.
  const containers = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap((definition) =>
    ((definition.Properties as Json).ContainerDefinitions as Json[]).map((container) => ({
      ...Object.fromEntries(
        ((container.Environment as { Name: string; Value: unknown }[] | undefined) ?? []).map((e) => [
          e.Name,
          e.Value,
        ]),
      ),
      server: true,
    })),
  );
  const environments: Json[] = [...lambda, ...containers];
  const emitters = environments
    .filter((env) => typeof env.POWERTOOLS_SERVICE_NAME === 'string')
    .map((env) =>
      JSON.stringify([env.POWERTOOLS_SERVICE_NAME, env.POWERTOOLS_METRICS_NAMESPACE, env.server === true]),
    );
  return [...new Set(emitters)].map((entry) => {
    const [service, namespace, server] = JSON.parse(entry) as [string, string, boolean];
    return { service, namespace, server };
  });
}

/** Every metric that an alarm reads, directly or in its metric math. */
function alarmMetrics(template: Template): AlarmMetric[] {
  return Object.entries(template.findResources('AWS::CloudWatch::Alarm')).flatMap(([alarm, resource]) => {
    const props = resource.Properties as Json;
    const stats = props.Metrics
      ? (props.Metrics as Json[]).flatMap((m) =>
          m.MetricStat ? [(m.MetricStat as Json).Metric as Json] : [],
        )
      : [props];
    return stats.map((metric) => ({
      alarm,
      namespace: metric.Namespace as string,
      metricName: metric.MetricName as string,
      dimensions: Object.fromEntries(
        ((metric.Dimensions as { Name: string; Value: unknown }[] | undefined) ?? []).map((d) => [
          d.Name,
          d.Value,
        ]),
      ),
    }));
  });
}

/** A copy of the model repository whose every weights file has one byte changed: no model loads. */
async function corruptRepository(dir: string): Promise<string> {
  const repository = join(dir, 'corrupt-models');
  await cp('models', repository, { recursive: true, dereference: true });
  for (const entry of await readdir(repository, { recursive: true })) {
    if (!entry.endsWith('.onnx')) continue;
    const file = await open(join(repository, entry), 'r+');
    await file.write(Buffer.from([0xff]), 0, 1, 0);
    await file.close();
  }
  return repository;
}

/** Runs `act` with EMF on, returning the records it writes to stdout. */
async function captureEmf(act: () => Promise<void>): Promise<EmfRecord[]> {
  const lines = await jsonLinesOf<EmfRecord>('stdout', act, { POWERTOOLS_METRICS_DISABLED: 'false' });
  return lines.filter((record) => record._aws !== undefined);
}

/** A record that carries `metric` under exactly its dimension set, with the same values. */
function matches(record: EmfRecord, metric: AlarmMetric): boolean {
  const names = Object.keys(metric.dimensions).sort();
  return record._aws.CloudWatchMetrics.some(
    (directive) =>
      directive.Namespace === metric.namespace &&
      directive.Metrics.some((m) => m.Name === metric.metricName) &&
      directive.Dimensions.some((set) => JSON.stringify([...set].sort()) === JSON.stringify(names)) &&
      names.every((name) => record[name] === metric.dimensions[name]),
  );
}

describe('the error-rate alarms and the EMF of failing requests', () => {
  let workDir: string;
  let template: Template;
  let s3: S3rverHandle;
  let client: S3Client;
  const records: EmfRecord[] = [];
  const statuses: Record<string, number> = {};

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'inferlet-error-metrics-'));
    template = await synthesise(workDir);
    s3 = await startS3rver({ buckets: [BUCKET] });
    client = new S3Client({
      endpoint: s3.endpoint,
      region: S3RVER_REGION,
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
    });
    const corrupt = await corruptRepository(workDir);
    const tasks = DEFAULT_TASKS.map((definition) => ({
      definition,
      model: { name: definition.defaultModel },
    }));

    // Each tier runs the same code under the service name and namespace the stack gives it; EMF on from the
    // start, as the emitters read their settings when they are made.
    for (const { service: serviceName, namespace, server } of emittersOf(template)) {
      vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
      const metrics = new InferenceMetrics(namespace, serviceName);
      const admission = () =>
        server ? { admission: new AdmissionControl({ concurrency: 4, maxWaitMs: 10_000 }) } : {};
      const healthy = new InferenceService({
        store: createModelStore({ repository: 'models', cacheDir: join(workDir, 'cache') }),
        tasks,
        metrics,
        ...admission(),
      });
      const broken = new InferenceService({
        store: createModelStore({ repository: corrupt, cacheDir: join(workDir, 'cache-corrupt') }),
        tasks,
        metrics,
        ...admission(),
      });
      const apps = {
        healthy: createHttpApp({ service: healthy }),
        broken: createHttpApp({ service: broken }),
      };
      const processors = {
        healthy: new UploadProcessor({ service: healthy, s3: client }),
        broken: new UploadProcessor({ service: broken, s3: client }),
      };
      records.push(
        ...(await captureEmf(async () => {
          for (const definition of DEFAULT_TASKS) {
            const input = BROKEN[definition.name as keyof typeof BROKEN];
            for (const [state, app] of Object.entries(apps)) {
              const response = await app.request(definition.route, {
                method: 'POST',
                body: input.body,
                headers: { 'content-type': input.type },
              });
              statuses[`${serviceName} http ${definition.name} ${state}`] = response.status;
            }
            const key = `incoming/${definition.modality}/${serviceName}-${input.file}`;
            const { ETag } = await client.send(
              new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: input.body, ContentType: input.type }),
            );
            const object = { bucket: BUCKET, key, etag: ETag ?? '' };
            // The failed attempt first: once refused, the file has its error record and is not run again.
            statuses[`${serviceName} upload ${definition.name} broken`] = await processors.broken
              .process(object)
              .then(
                () => 200,
                () => 500,
              );
            const refused = await processors.healthy.process(object);
            statuses[`${serviceName} upload ${definition.name} healthy`] =
              refused.status === 'refused' ? 422 : 200;
          }
          statuses[`${serviceName} http none`] = (
            await apps.healthy.request('/v1/nope', { method: 'POST' })
          ).status;
        })),
      );
    }
  });

  afterAll(async () => {
    await s3?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('fails each broken request with a 4xx, and each request on a model that does not load with a 5xx', () => {
    for (const [what, status] of Object.entries(statuses)) {
      if (what.endsWith('healthy')) expect(status, what).toBeGreaterThanOrEqual(400);
      if (what.endsWith('healthy')) expect(status, what).toBeLessThan(500);
      if (what.endsWith('broken')) expect(status, what).toBeGreaterThanOrEqual(500);
    }
    expect(Object.keys(statuses).length).toBeGreaterThanOrEqual(2 * 13);
  });

  it('emits one Errors record, with its status class and latency, per failed request and upload', () => {
    const errors = records.filter((r) => r.Errors === 1);
    const classes = errors.map((r) => `${r.service} ${r.source} ${r.task} ${r.statusClass}`);

    for (const { service } of emittersOf(template)) {
      for (const task of DEFAULT_TASKS.map((t) => t.name)) {
        for (const source of ['http', 'upload']) {
          expect(classes.filter((c) => c === `${service} ${source} ${task} 4xx`)).toHaveLength(1);
          expect(classes.filter((c) => c === `${service} ${source} ${task} 5xx`)).toHaveLength(1);
        }
      }
      expect(classes).toContain(`${service} http none 4xx`);
    }
    expect(errors).toHaveLength(Object.keys(statuses).length);
    for (const record of errors) {
      expect(record.Requests).toBe(1);
      expect(record.RequestLatency).toBeGreaterThan(0);
    }
  });

  it('emits nothing of the payload or the file name', () => {
    const emitted = JSON.stringify(records);

    for (const input of Object.values(BROKEN)) expect(emitted).not.toContain(input.file);
    expect(emitted).not.toContain('unterminated');
    expect(emitted).not.toContain('WAVEjunk');
  });

  it('gives every task an error-rate alarm per tier and door, each reading the 5xx Errors over all Requests', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const errorRate = Object.keys(alarms).filter(
      (id) => /ErrorRate[0-9A-F]{8}$/.test(id) && !/FunctionErrorRate/.test(id),
    );
    const read = alarmMetrics(template).filter((m) => errorRate.includes(m.alarm));

    // Lambda: HTTP of the 3 tasks, uploads of text and speech; GPU (image): HTTP and upload.
    expect(errorRate.map((id) => id.replace(/^Monitoring|[0-9A-F]{8}$/g, '')).sort()).toEqual(
      [
        'GpuImageErrorRate',
        'GpuImageUploadErrorRate',
        'ImageHttpErrorRate',
        ...['Text', 'Speech'].flatMap((t) => [`${t}HttpErrorRate`, `${t}UploadErrorRate`]),
      ].sort(),
    );
    for (const id of errorRate) {
      const names = read
        .filter((m) => m.alarm === id)
        .map((m) => `${m.metricName} ${m.dimensions.statusClass ?? ''}`);
      expect(names.sort(), id).toEqual([`${OUTCOME_METRICS.errors} 5xx`, `${OUTCOME_METRICS.requests} `]);
    }
  });

  it('alarms only on metrics that a real failing request or upload emitted, with the same namespace, name and dimensions', () => {
    const emf = alarmMetrics(template).filter((m) =>
      emittersOf(template).some(({ namespace }) => m.namespace === namespace),
    );

    // Errors and Requests of each of the 7 error-rate alarms.
    expect(emf.length).toBeGreaterThanOrEqual(14);
    for (const metric of emf) {
      expect(
        records.some((record) => matches(record, metric)),
        `${metric.alarm}: ${metric.metricName} ${JSON.stringify(metric.dimensions)}`,
      ).toBe(true);
    }
  });
});

describe('which HTTP requests the app counts', () => {
  const text = DEFAULT_TASKS.find((t) => t.name === 'text/classify');
  if (!text) throw new Error('text/classify is not a supported task');
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-outcomes-'));
  });

  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** An app whose metrics are on (the emitter reads POWERTOOLS_METRICS_DISABLED when it is made). */
  const newApp = () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    return createHttpApp({
      service: new InferenceService({
        store: createModelStore({ repository: 'models', cacheDir }),
        tasks: [{ definition: text, model: { name: text.defaultModel } }],
        metrics: new InferenceMetrics('Inferlet', 'inferlet-test'),
      }),
      maxBodyBytes: 1000,
    });
  };
  const outcomes = (records: EmfRecord[]) =>
    records
      .filter((r) => r.Requests === 1)
      .map((r) => `${r.task} ${r.source} ${r.statusClass} ${r.Errors === 1 ? 'error' : 'ok'}`);

  it('counts inference requests and failures once each, against the route’s or the OIP model’s task', async () => {
    const app = newApp();
    const post = (path: string, body: string) =>
      app.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

    const records = await captureEmf(async () => {
      expect((await post('/v1/text/classify', JSON.stringify({ text: 'hello there' }))).status).toBe(200);
      expect((await post('/v1/text/classify', 'x'.repeat(2000))).status).toBe(413);
      expect((await post('/v2/models/spam-fasttext/infer', '{"inputs": []}')).status).toBe(400);
      expect((await app.request('/v2/models/nope')).status).toBe(404);
    });

    expect(outcomes(records)).toEqual([
      'text/classify http 2xx ok',
      'text/classify http 4xx error',
      'text/classify http 4xx error',
      'none http 4xx error',
    ]);
  });

  it('counts neither probes nor other successful requests', async () => {
    const app = newApp();

    const records = await captureEmf(async () => {
      expect((await app.request('/v2/health/ready')).status).toBe(503);
      expect((await app.request('/v2/health/live')).status).toBe(200);
      expect((await app.request('/v2')).status).toBe(200);
    });

    expect(outcomes(records)).toEqual([]);
  });
});
