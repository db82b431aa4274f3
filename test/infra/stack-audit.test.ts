/**
 * Audits of the synthesised stack that no single construct test can make: every alarm reads a metric that
 * something in the stack really emits (AWS's own metrics as the constructs' metric helpers name them, the
 * app's EMF metrics as `metric-names.ts` declares them), and every cdk-nag acknowledgement covers a finding
 * that exists and says what the policy really holds.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IMetric, MetricConfig } from 'aws-cdk-lib/aws-cloudwatch';
import { HttpCodeElb, HttpCodeTarget } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMISSION_DIMENSIONS,
  ADMISSION_METRICS,
  INFERENCE_DIMENSIONS,
  INFERENCE_METRICS,
  OUTCOME_DIMENSIONS,
  OUTCOME_METRICS,
  REQUEST_DIMENSIONS,
  SOURCES,
  STATUS_CLASSES,
} from '../../functions/core/metric-names.ts';
import { TASK_NAMES } from '../../functions/core/tasks/descriptors.ts';
import { createInferletApp } from '../../infra/app.ts';
import { type InferletStack, METRICS_NAMESPACE, SERVICE_NAMES } from '../../infra/stacks/inferlet-stack.ts';
import {
  type TemplateMetric as AlarmMetric,
  alarmMetrics,
  metricKey as keyOf,
} from '../support/template-metrics.ts';

type Json = Record<string, unknown>;

/** Every kind of alarm at once: the Lambda tier, a GPU service on HTTP, an upload-only GPU service from zero. */
const EVERY_ALARM = {
  region: 'eu-west-1',
  tasks: {
    image: { gpu: {} },
    text: { gpu: { serveHttp: false, minTasks: 0 }, uploads: { consumers: ['gpu'] } },
  },
};

let workDir: string;

function newApp(inferlet?: Json): { app: App; stack: InferletStack } {
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const layer = () => ({ directory: join(workDir, 'empty-layer'), files: [], unzippedBytes: 0 });
  return createInferletApp(
    {
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:disable-asset-staging': true,
        ...(inferlet && { inferlet }),
      },
      outdir: mkdtempSync(join(workDir, 'cdk.out-')),
    },
    { nativeLayers: { buildOnnxRuntime: layer, buildSharp: layer } },
  );
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-audit-'));
  mkdirSync(join(workDir, 'empty-layer'));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/**
 * What AWS emits for the stack's resources, named by the constructs' own metric helpers (the names and
 * dimensions AWS documents for each service), resolved as the template has them.
 */
function awsMetricsOf(stack: InferletStack): Set<string> {
  const helpers: IMetric[] = [];
  for (const { http, upload } of stack.lambdaTasks.values())
    for (const fn of [http, upload]) {
      if (!fn) continue;
      const f = fn.function;
      helpers.push(f.metricErrors(), f.metricInvocations(), f.metricThrottles(), f.metricDuration());
    }
  for (const uploads of stack.uploadQueues.values())
    for (const queue of [uploads.queue, uploads.deadLetterQueue])
      helpers.push(
        queue.metricApproximateNumberOfMessagesVisible(),
        queue.metricApproximateNumberOfMessagesNotVisible(),
        queue.metricApproximateAgeOfOldestMessage(),
      );
  const api = stack.api.api;
  helpers.push(api.metricCount(), api.metricServerError(), api.metricClientError(), api.metricLatency());
  for (const gpu of stack.gpuServices.values()) {
    const lb = gpu.loadBalancer.metrics;
    const tg = gpu.targetGroup.metrics;
    helpers.push(
      lb.requestCount(),
      lb.httpCodeElb(HttpCodeElb.ELB_5XX_COUNT),
      lb.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT),
      tg.healthyHostCount(),
      tg.unhealthyHostCount(),
      tg.targetResponseTime(),
      // Container Insights, which the cluster enables (checked below).
      gpu.metricRunningTasks(),
    );
  }
  return new Set(
    helpers.map((helper) => {
      const config = stack.resolve(helper.toMetricConfig()) as MetricConfig;
      const stat = config.metricStat;
      if (!stat) throw new Error('a helper gave no plain metric');
      const dimensions = Object.fromEntries((stat.dimensions ?? []).map((d) => [d.name, d.value]));
      return keyOf(stat.namespace, stat.metricName, dimensions);
    }),
  );
}

/** Whether the app's EMF code emits `metric`: a name and dimension set of metric-names.ts, known values. */
function emittedByApp(metric: AlarmMetric): boolean {
  if (metric.namespace !== METRICS_NAMESPACE) return false;
  const names = Object.keys(metric.dimensions).sort().join(',');
  const sets = (Object.values(OUTCOME_METRICS) as string[]).includes(metric.metricName)
    ? [REQUEST_DIMENSIONS, OUTCOME_DIMENSIONS]
    : (Object.values(INFERENCE_METRICS) as string[]).includes(metric.metricName)
      ? [INFERENCE_DIMENSIONS]
      : (Object.values(ADMISSION_METRICS) as string[]).includes(metric.metricName)
        ? [ADMISSION_DIMENSIONS]
        : [];
  if (!sets.some((set) => [...set].sort().join(',') === names)) return false;
  const allowed: Record<string, readonly unknown[]> = {
    service: Object.values(SERVICE_NAMES),
    task: TASK_NAMES,
    source: Object.values(SOURCES),
    statusClass: STATUS_CLASSES,
  };
  return Object.entries(metric.dimensions).every(
    ([name, value]) => !allowed[name] || allowed[name].includes(value),
  );
}

describe('the alarms', () => {
  let stack: InferletStack;
  let template: Template;
  let emitted: (metric: AlarmMetric) => boolean;

  beforeAll(() => {
    ({ stack } = newApp(EVERY_ALARM));
    template = Template.fromStack(stack);
    const aws = awsMetricsOf(stack);
    emitted = (metric) =>
      emittedByApp(metric) || aws.has(keyOf(metric.namespace, metric.metricName, metric.dimensions));
  });

  it('read only metrics that AWS emits for the stack’s resources or that the app emits as EMF', () => {
    const metrics = alarmMetrics(template);
    const unknown = metrics.filter((metric) => !emitted(metric));

    expect(unknown.map((m) => `${m.usedBy}: ${keyOf(m.namespace, m.metricName, m.dimensions)}`)).toEqual([]);
    // Both kinds are there: the audit compares something.
    expect(metrics.filter((m) => m.namespace === METRICS_NAMESPACE).length).toBeGreaterThanOrEqual(16);
    expect(new Set(metrics.map((m) => m.namespace))).toEqual(
      new Set([
        METRICS_NAMESPACE,
        'AWS/Lambda',
        'AWS/SQS',
        'AWS/ApiGateway',
        'AWS/ApplicationELB',
        'ECS/ContainerInsights',
      ]),
    );
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('would catch a metric nobody emits: a misspelt name, a dimension too many, an unknown service', () => {
    const [errors] = alarmMetrics(template).filter(
      (m) => m.metricName === 'Errors' && m.namespace === 'AWS/Lambda',
    );
    const [requests] = alarmMetrics(template).filter((m) => m.metricName === OUTCOME_METRICS.requests);
    if (!errors || !requests) throw new Error('expected Lambda Errors and EMF Requests alarms');

    expect(emitted(errors)).toBe(true);
    expect(emitted(requests)).toBe(true);
    expect(emitted({ ...errors, metricName: 'Error' })).toBe(false);
    expect(emitted({ ...errors, dimensions: { ...errors.dimensions, Resource: 'live' } })).toBe(false);
    expect(emitted({ ...requests, dimensions: { ...requests.dimensions, model: 'ppocr-v4@3' } })).toBe(false);
    expect(emitted({ ...requests, dimensions: { ...requests.dimensions, service: 'inferlet' } })).toBe(false);
    expect(emitted({ ...requests, metricName: 'HTTPCode_ELB_5XX' })).toBe(false);
  });

  it('cover what users feel: API 5xx and latency, load balancer 5xx, healthy tasks, oldest upload, dead letters', () => {
    const metrics = alarmMetrics(template);
    const read = (namespace: string, metricName: string) =>
      metrics.some((m) => m.namespace === namespace && m.metricName === metricName);

    for (const [namespace, metricName] of <[string, string][]>[
      ['AWS/ApiGateway', '5xx'],
      ['AWS/ApiGateway', 'Latency'],
      ['AWS/ApplicationELB', 'HTTPCode_ELB_5XX_Count'],
      ['AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count'],
      ['AWS/ApplicationELB', 'HealthyHostCount'],
      ['AWS/SQS', 'ApproximateAgeOfOldestMessage'],
      ['AWS/SQS', 'ApproximateNumberOfMessagesVisible'],
      [METRICS_NAMESPACE, OUTCOME_METRICS.errors],
    ])
      expect(read(namespace, metricName), `${namespace} ${metricName}`).toBe(true);
  });

  it('all notify the alarm topic, which has a subscriber when one is configured', () => {
    const topic = stack.getLogicalId(stack.monitoring.topic.node.defaultChild as CfnElement);
    const { stack: subscribed } = newApp({
      profile: 'prod',
      monitoring: { alarmEmails: ['ops@example.com'] },
    });

    const scalingPolicies = new Set(
      Object.keys(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')),
    );
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const people = alarms.filter((alarm) => {
      const actions = (alarm.Properties as { AlarmActions: { Ref: string }[] }).AlarmActions;
      // Scaling alarms trigger their policy; every other alarm tells people.
      return !actions.every((action) => scalingPolicies.has(action.Ref));
    });

    expect(people.length).toBeGreaterThan(alarms.length / 2);
    for (const alarm of people) expect((alarm.Properties as Json).AlarmActions).toEqual([{ Ref: topic }]);
    Template.fromStack(subscribed).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });
});

/** Actions that IAM cannot limit to a resource: a `"*"` resource is the only way to grant them. */
const NO_RESOURCE_LEVEL_ACTIONS = new Set([
  'ecr:GetAuthorizationToken',
  'ec2:DescribeTags',
  'ecs:DiscoverPollEndpoint',
  'cloudwatch:PutMetricData',
]);

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** The cdk-nag acknowledgements recorded on constructs (`Validations.acknowledge`). */
function acknowledgementsOf(app: App): Acknowledgement[] {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          // Recorded as `<plugin or Annotation>::<rule id>`.
          id: id.replace(/^[A-Za-z-]+::/, ''),
          reason,
        })),
      )
      .filter((ack) => ack.id.startsWith('AwsSolutions-')),
  );
}

/** Every AwsSolutions finding, acknowledged or not, with the path of the resource it is about. */
function findingsOf(app: App): { rule: string; path: string }[] {
  const pack = new AwsSolutionsChecks();
  // The pack hides acknowledged findings; this audit needs them all, so it sees none as acknowledged.
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack
    .validateScope(app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
    );
}

describe.each([
  ['the default configuration', undefined],
  ['both tiers', EVERY_ALARM],
])('the cdk-nag acknowledgements with %s', (_, inferlet) => {
  let app: App;
  let stack: InferletStack;
  let acknowledgements: Acknowledgement[];
  let findings: { rule: string; path: string }[];

  beforeAll(() => {
    ({ app, stack } = newApp(inferlet));
    acknowledgements = acknowledgementsOf(app);
    findings = findingsOf(app);
  });

  const under = (ack: Acknowledgement) => (path: string) =>
    path === ack.path || path.startsWith(`${ack.path}/`);

  it('each cover a finding that exists', () => {
    const stale = acknowledgements.filter(
      (ack) => !findings.some((finding) => finding.rule === ack.id && under(ack)(finding.path)),
    );

    expect(acknowledgements.length).toBeGreaterThan(10);
    expect(stale.map((ack) => `${ack.path}: ${ack.id}`)).toEqual([]);
  });

  it('grant "*" only for actions IAM cannot limit, or under a condition, and name each such action', () => {
    const wildcards = acknowledgements.filter((ack) => ack.id === 'AwsSolutions-IAM5[Resource::*]');
    const policies = app.node
      .findAll()
      .filter((c) => (c as { cfnResourceType?: string }).cfnResourceType === 'AWS::IAM::Policy');

    for (const ack of wildcards) {
      const statements = policies
        .filter((policy) => under(ack)(policy.node.path))
        .flatMap(
          (policy) =>
            (
              stack.resolve((policy as unknown as { policyDocument: unknown }).policyDocument) as {
                Statement: Json[];
              }
            ).Statement,
        )
        .filter((statement) => [statement.Resource].flat().includes('*'));

      expect(statements.length, ack.path).toBeGreaterThan(0);
      for (const statement of statements) {
        const actions = [statement.Action].flat() as string[];
        for (const action of actions) {
          expect(
            NO_RESOURCE_LEVEL_ACTIONS.has(action) || statement.Condition !== undefined,
            `${ack.path}: ${action} on "*" without a condition`,
          ).toBe(true);
          expect(ack.reason, `${ack.path}: the reason does not name ${action}`).toContain(action);
        }
      }
    }
  });

  it('name, for a wildcard action, an action that a statement really grants', () => {
    for (const ack of acknowledgements.filter((a) => a.id.startsWith('AwsSolutions-IAM5[Action::'))) {
      const action = ack.id.slice('AwsSolutions-IAM5[Action::'.length, -1);
      const granted = app.node
        .findAll()
        .filter((c) => (c as { cfnResourceType?: string }).cfnResourceType === 'AWS::IAM::Policy')
        .filter((policy) => under(ack)(policy.node.path))
        .flatMap(
          (policy) =>
            (
              stack.resolve((policy as unknown as { policyDocument: unknown }).policyDocument) as {
                Statement: Json[];
              }
            ).Statement,
        )
        .flatMap((statement) => [statement.Action].flat());

      expect(granted, `${ack.path}: ${action}`).toContain(action);
    }
  });
});
