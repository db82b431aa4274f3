/**
 * The monitoring construct on its own, in a bare stack with real resources (functions, an HTTP API, upload
 * queues, a load-balanced ECS service): each tier's section adds the alarms it promises, with the
 * thresholds of its props, all sent to the encrypted topic. The whole stack's monitoring is audited in
 * stack-audit.test.ts and monitoring-metrics.test.ts.
 */
import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerImage, FargateService, FargateTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancer, ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import type { MonitoredGpuService } from '../../infra/constructs/monitoring/gpu-monitoring.ts';
import { InferenceMonitoring } from '../../infra/constructs/monitoring.ts';
import { UploadQueue } from '../../infra/constructs/upload-queue.ts';

type Json = Record<string, unknown>;

const PROPS = {
  metricsNamespace: 'Inferlet',
  alarmEmails: ['ops@example.com'],
  errorRatePercent: 3,
  latencyBandWidth: 2.5,
  oldestUploadAgeSeconds: 600,
};

const OCR = { service: 'inferlet-lambda', task: 'image/ocr', model: 'ppocr-v4@3', variant: 'int8' };

function newMonitoring(): { stack: Stack; monitoring: InferenceMonitoring } {
  const stack = new Stack();
  return { stack, monitoring: new InferenceMonitoring(stack, 'Monitoring', PROPS) };
}

function fn(stack: Stack, id: string): LambdaFunction {
  return new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({});'),
  });
}

/** A load-balanced ECS service with the GPU service's metric surface (its GPU metrics: the agent's names). */
function gpuLike(stack: Stack): MonitoredGpuService {
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const cluster = new Cluster(stack, 'Cluster', { vpc });
  const taskDefinition = new FargateTaskDefinition(stack, 'Task');
  taskDefinition.addContainer('server', {
    image: ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
    portMappings: [{ containerPort: 8080 }],
  });
  const service = new FargateService(stack, 'Service', { cluster, taskDefinition });
  const loadBalancer = new ApplicationLoadBalancer(stack, 'LoadBalancer', { vpc });
  const targetGroup = new ApplicationTargetGroup(stack, 'Targets', { vpc, port: 8080, targets: [service] });
  loadBalancer.addListener('Http', { port: 80, defaultTargetGroups: [targetGroup] });
  const agent = (metricName: string) => new Metric({ namespace: 'CWAgent', metricName });
  return {
    loadBalancer,
    targetGroup,
    service,
    metricGpuUtilization: () => agent('nvidia_smi_utilization_gpu'),
    metricGpuMemoryUsed: () => agent('nvidia_smi_memory_used'),
  };
}

/** The alarms of the template by the construct id they were given (`Monitoring<id><hash>`). */
function alarmsById(template: Template): Map<string, Json> {
  const alarms = new Map<string, Json>();
  for (const [logicalId, resource] of Object.entries(template.findResources('AWS::CloudWatch::Alarm')))
    alarms.set(
      logicalId.replace(/^Monitoring/, '').replace(/[0-9A-F]{8}$/, ''),
      (resource as { Properties: Json }).Properties,
    );
  return alarms;
}

function dashboardText(template: Template): string {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = (dashboard as { Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } } })
    .Properties.DashboardBody['Fn::Join'][1];
  return body.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
}

describe('InferenceMonitoring', () => {
  it('sends every alarm and its recovery to one KMS-encrypted topic that emails the configured addresses', () => {
    const { stack, monitoring } = newMonitoring();
    monitoring.addApi(new HttpApi(stack, 'Api'));

    const template = Template.fromStack(stack);

    const topic = stack.getLogicalId(monitoring.topic.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    expect(monitoring.alarms.length).toBeGreaterThan(0);
    for (const alarm of alarmsById(template).values()) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions).toEqual([{ Ref: topic }]);
    }
  });

  it('alarms on the API’s 5xx rate above the configured percentage and on its p99 outside the anomaly band', () => {
    const { stack, monitoring } = newMonitoring();
    monitoring.addApi(new HttpApi(stack, 'Api'));

    const template = Template.fromStack(stack);

    const alarms = alarmsById(template);
    expect([...alarms.keys()].sort()).toEqual(['Api5xxRate', 'ApiLatencyAnomaly']);
    expect(alarms.get('Api5xxRate')).toMatchObject({
      Threshold: 3,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
    expect(alarms.get('ApiLatencyAnomaly')).toMatchObject({
      ComparisonOperator: 'GreaterThanUpperThreshold',
    });
    template.resourceCountIs('AWS::CloudWatch::AnomalyDetector', 1);
    expect(JSON.stringify(alarms.get('ApiLatencyAnomaly'))).toContain('ANOMALY_DETECTION_BAND(m0, 2.5)');
    expect(dashboardText(template)).toContain('## HTTP API');
  });

  it('gives a Lambda task an EMF error rate and Lambda’s own alarms per function, and returns the error rates', () => {
    const { stack, monitoring } = newMonitoring();
    const http = { fn: fn(stack, 'Http'), timeout: Duration.seconds(30) };
    const upload = { fn: fn(stack, 'Upload'), timeout: Duration.seconds(300) };

    const withUploads = monitoring.addLambdaTask({ key: 'Image', dimensions: OCR, http, upload });
    const httpOnly = monitoring.addLambdaTask({
      key: 'Text',
      dimensions: { ...OCR, task: 'text/classify' },
      http,
    });
    const alarms = alarmsById(Template.fromStack(stack));

    expect(withUploads.http.map((a) => a.node.id)).toEqual([
      'ImageHttpErrorRate',
      'ImageHttpFunctionErrorRate',
    ]);
    expect(withUploads.upload?.map((a) => a.node.id)).toEqual([
      'ImageUploadErrorRate',
      'ImageUploadFunctionErrorRate',
    ]);
    expect(httpOnly.upload).toBeUndefined();
    expect([...alarms.keys()].filter((id) => id.startsWith('Text')).sort()).toEqual([
      'TextHttpErrorRate',
      'TextHttpFunctionErrorRate',
      'TextHttpLatencyAnomaly',
      'TextHttpNearTimeout',
      'TextHttpThrottles',
    ]);
    // 80 % of each function's own timeout, in milliseconds.
    expect(alarms.get('ImageHttpNearTimeout')).toMatchObject({ Threshold: 24_000, ExtendedStatistic: 'p99' });
    expect(alarms.get('ImageUploadNearTimeout')).toMatchObject({ Threshold: 240_000 });
    expect(alarms.get('ImageUploadErrorRate')?.AlarmDescription).toContain(
      'upload requests failed with a 5xx',
    );
  });

  it('alarms on an upload queue’s dead letters at once and on its oldest upload past the configured age', () => {
    const { stack, monitoring } = newMonitoring();
    const uploads = new UploadQueue(stack, 'Uploads', {
      visibilityTimeout: Duration.minutes(5),
      maxReceiveCount: 3,
    });

    monitoring.addUploadQueue('Speech', 'speech/vad', uploads);
    const alarms = alarmsById(Template.fromStack(stack));

    expect(alarms.get('SpeechDeadLetters')).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      EvaluationPeriods: 1,
    });
    expect(alarms.get('SpeechOldestUpload')).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 600,
      EvaluationPeriods: 2,
    });
  });

  it('sums a GPU service’s tasks in one error rate per door and alarms below the minimum only when it has one', () => {
    const { stack, monitoring } = newMonitoring();
    const gpu = gpuLike(stack);
    const tasks = [
      { ...OCR, service: 'inferlet-gpu', variant: 'fp32' },
      { service: 'inferlet-gpu', task: 'speech/vad', model: 'silero-vad@1', variant: 'fp32' },
    ];

    const rollback = monitoring.addGpuService('Shared', 'shared', gpu, tasks, { uploads: true, minTasks: 2 });
    const fromZero = monitoring.addGpuService('Worker', 'worker', gpu, tasks.slice(0, 1), { minTasks: 0 });
    const alarms = alarmsById(Template.fromStack(stack));

    expect(rollback.map((a) => a.node.id)).toEqual([
      'GpuSharedErrorRate',
      'GpuSharedUploadErrorRate',
      'GpuSharedLoadBalancer5xxRate',
    ]);
    expect(fromZero.map((a) => a.node.id)).toEqual(['GpuWorkerErrorRate', 'GpuWorkerLoadBalancer5xxRate']);
    const expression = (alarms.get('GpuSharedErrorRate')?.Metrics as Json[] | undefined)?.find(
      (m) => m.Expression,
    )?.Expression;
    expect(expression).toBe(
      'IF((requests0 + requests1) > 0, 100 * (FILL(errors0, 0) + FILL(errors1, 0)) / (requests0 + requests1), 0)',
    );
    expect(alarms.get('GpuSharedHealthyBelowMinimum')).toMatchObject({
      Threshold: 2,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(alarms.has('GpuWorkerHealthyBelowMinimum')).toBe(false);
    expect(alarms.get('GpuWorkerUnhealthy')).toMatchObject({
      MetricName: 'UnHealthyHostCount',
      EvaluationPeriods: 5,
    });
    const dashboard = dashboardText(Template.fromStack(stack));
    expect(dashboard).toContain('speech/vad on GPU: admission queue');
    expect(dashboard).toContain('nvidia_smi_utilization_gpu');
  });
});
