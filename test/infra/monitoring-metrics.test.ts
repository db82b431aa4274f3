/**
 * Every EMF metric that the synthesised stack graphs, alarms or scales on is one the functions' code really
 * writes: the same namespace, name and dimension set (an alarm reads nothing unless it names every
 * dimension), captured from `InferenceMetrics` itself rather than from the constants it uses, with the
 * `service`, `task` and `model` values a function or container of the stack runs with.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { modelVariableOf } from '../../functions/core/config/env.ts';
import { SOURCES, type StatusClass } from '../../functions/core/metric-names.ts';
import { InferenceMetrics } from '../../functions/core/metrics.ts';
import { createInferletApp } from '../../infra/app.ts';
import {
  alarmMetrics,
  anomalyDetectorMetrics,
  dashboardMetrics,
  metricKey as keyOf,
  type TemplateMetric as UsedMetric,
} from '../support/template-metrics.ts';

type Json = Record<string, unknown>;

/** A Lambda tier, a GPU service on HTTP and uploads, and an upload-only GPU service: every section there is. */
const EVERY_SECTION = {
  region: 'eu-west-1',
  tasks: {
    image: { gpu: {}, uploads: { consumers: ['gpu'] } },
    text: { gpu: { serveHttp: false, minTasks: 0 }, uploads: { consumers: ['gpu'] } },
  },
};

/** Namespaces of AWS's own metrics and the CloudWatch agent's: not the app's EMF. */
const NOT_EMF = /^(AWS\/|ECS\/ContainerInsights$|CWAgent$)/;

let workDir: string;
let template: Template;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-monitoring-'));
  mkdirSync(join(workDir, 'empty-layer'));
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const layer = () => ({ directory: join(workDir, 'empty-layer'), files: [], unzippedBytes: 0 });
  const { stack } = createInferletApp(
    {
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:disable-asset-staging': true,
        inferlet: EVERY_SECTION,
      },
      outdir: mkdtempSync(join(workDir, 'cdk.out-')),
    },
    { nativeLayers: { buildOnnxRuntime: layer, buildSharp: layer } },
  );
  template = Template.fromStack(stack);
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** Every metric the alarms, anomaly detectors and dashboard read. */
function usedMetrics(): UsedMetric[] {
  return [...alarmMetrics(template), ...anomalyDetectorMetrics(template), ...dashboardMetrics(template)];
}

/** The environment of every Lambda function and container of the stack, string values only. */
function runtimeEnvironments(): Record<string, string>[] {
  const lambdas = Object.values(template.findResources('AWS::Lambda::Function')).map(
    (fn) =>
      ((fn as { Properties: Json }).Properties.Environment as { Variables?: Json } | undefined)?.Variables ??
      {},
  );
  const containers = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap((task) =>
    ((task as { Properties: { ContainerDefinitions: Json[] } }).Properties.ContainerDefinitions ?? []).map(
      (c) =>
        Object.fromEntries(
          ((c.Environment as { Name: string; Value: unknown }[]) ?? []).map((e) => [e.Name, e.Value]),
        ),
    ),
  );
  return [...lambdas, ...containers].map((env) =>
    Object.fromEntries(
      Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    ),
  );
}

/** Each metric of each dimension set of the EMF records Powertools writes to stdout while `act` runs. */
function emittedBy(act: () => void): Set<string> {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  act();
  vi.restoreAllMocks();
  const keys = new Set<string>();
  for (const line of chunks
    .join('')
    .split('\n')
    .filter((l) => l.trim())) {
    const record = JSON.parse(line) as Json & {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    };
    for (const directive of record._aws.CloudWatchMetrics)
      for (const set of directive.Dimensions)
        for (const { Name } of directive.Metrics)
          keys.add(
            keyOf(directive.Namespace, Name, Object.fromEntries(set.map((d) => [d, String(record[d])]))),
          );
  }
  return keys;
}

/**
 * What `InferenceMetrics` writes for one inference, one request outcome and one admission decision with the
 * dimension values `used` names (a success, or a failure of its status class).
 */
function emittedFor(used: UsedMetric): Set<string> {
  const value = (name: string) => String(used.dimensions[name] ?? 'none');
  const [service, task, model, variant] = [value('service'), value('task'), value('model'), value('variant')];
  const source = used.dimensions.source === SOURCES.upload ? SOURCES.upload : SOURCES.http;
  const status =
    { '2xx': 200, '3xx': 304, '4xx': 400, '5xx': 500 }[used.dimensions.statusClass as StatusClass] ?? 200;
  return emittedBy(() => {
    // Settings (POWERTOOLS_METRICS_DISABLED among them) are read when the emitter is made.
    const metrics = new InferenceMetrics(used.namespace, service);
    metrics.record({
      task,
      model,
      variant,
      timings: { decode: 1, preprocess: 1, inference: 1, postprocess: 1, total: 4 },
      payloadBytes: 1,
      items: 1,
      cpuMs: 1,
      coldStart: true,
      modelLoadMs: 1,
      source,
    });
    metrics.recordOutcome({ task, source, status, latencyMs: 1 });
    metrics.recordAdmission({ task, queueDepth: 1, shed: false, queueWaitMs: 1 });
  });
}

describe('the monitoring of the synthesised stack', () => {
  it('graphs, alarms and scales only on EMF metrics the functions write, with every dimension', () => {
    const used = usedMetrics().filter((m) => !NOT_EMF.test(m.namespace));

    const missing = used.filter((m) => !emittedFor(m).has(keyOf(m.namespace, m.metricName, m.dimensions)));

    expect(missing.map((m) => `${m.usedBy}: ${keyOf(m.namespace, m.metricName, m.dimensions)}`)).toEqual([]);
    // All three kinds are there, in the alarms and on the dashboard: the comparison compares something.
    const names = new Set(used.map((m) => m.metricName));
    for (const name of ['Errors', 'Requests', 'Latency', 'InferenceLatency', 'QueueWait', 'Shed'])
      expect(names, name).toContain(name);
    expect(used.some((m) => m.usedBy.startsWith('dashboard'))).toBe(true);
    expect(used.some((m) => !m.usedBy.startsWith('dashboard'))).toBe(true);
  });

  it('names the namespace, service and model that a function or container of the stack runs with', () => {
    const environments = runtimeEnvironments();
    const used = usedMetrics().filter((m) => !NOT_EMF.test(m.namespace));

    const unserved = used.filter(
      ({ namespace, dimensions: { service, task, model } }) =>
        !environments.some(
          (env) =>
            env.POWERTOOLS_METRICS_NAMESPACE === namespace &&
            env.POWERTOOLS_SERVICE_NAME === service &&
            (typeof task !== 'string' || model === undefined || env[modelVariableOf(task)] === model),
        ),
    );

    expect(unserved.map((m) => `${m.usedBy}: ${keyOf(m.namespace, m.metricName, m.dimensions)}`)).toEqual([]);
    expect(used.filter((m) => m.dimensions.model !== undefined).length).toBeGreaterThan(0);
  });

  it('would catch a metric the code does not write: a misspelt name, a dimension too many or too few', () => {
    const [requests] = alarmMetrics(template).filter((m) => m.metricName === 'Requests');
    const [latency] = dashboardMetrics(template).filter(
      (m) => m.metricName === 'Latency' && m.dimensions.model,
    );
    if (!requests || !latency) throw new Error('expected an EMF Requests alarm and a Latency graph');
    const written = (m: UsedMetric) => emittedFor(m).has(keyOf(m.namespace, m.metricName, m.dimensions));

    expect(written(requests)).toBe(true);
    expect(written(latency)).toBe(true);
    expect(written({ ...requests, metricName: 'Request' })).toBe(false);
    expect(written({ ...requests, dimensions: { ...requests.dimensions, model: 'ppocr-v4@3' } })).toBe(false);
    const { variant: _, ...withoutVariant } = latency.dimensions;
    expect(written({ ...latency, dimensions: withoutVariant })).toBe(false);
  });
});
