import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  INFERENCE_DIMENSIONS,
  NO_TASK,
  OUTCOME_DIMENSIONS,
  PROVIDER_DIMENSIONS,
  REQUEST_DIMENSIONS,
} from '../../functions/core/metric-names.ts';
import { InferenceMetrics } from '../../functions/core/metrics.ts';

/** Captures what Powertools writes to stdout while `act` runs, one parsed EMF record per line. */
// biome-ignore lint/suspicious/noExplicitAny: EMF records are arbitrary JSON, asserted on field by field.
function emfOf(act: () => void): any[] {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    act();
  } finally {
    write.mockRestore();
  }
  return lines
    .join('')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('InferenceMetrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  const record = {
    task: 'image/ocr',
    model: 'ppocr-v4@3',
    variant: 'fp32',
    timings: { decode: 1.5, preprocess: 2, inference: 30, postprocess: 4, total: 38 },
    payloadBytes: 2048,
    items: 1,
    cpuMs: 55,
    coldStart: true,
    modelLoadMs: 900,
    source: 'http',
  };

  it('writes one valid EMF record with latency per stage, cold start, load time, payload, memory and CPU', () => {
    const emf = emfOf(() => new InferenceMetrics('Inferlet', 'image').record(record));

    expect(emf).toHaveLength(1);
    const [entry] = emf;
    expect(typeof entry._aws.Timestamp).toBe('number');
    const [directive] = entry._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe('Inferlet');
    expect(directive.Dimensions[0]).toEqual(expect.arrayContaining(['task', 'model', 'variant']));
    const names = directive.Metrics.map((m: { Name: string }) => m.Name);
    expect(names).toEqual(
      expect.arrayContaining([
        'Latency',
        'DecodeLatency',
        'PreprocessLatency',
        'InferenceLatency',
        'PostprocessLatency',
        'ColdStart',
        'ModelLoadTime',
        'PayloadSize',
        'MemoryRss',
        'CpuTime',
        'Inferences',
      ]),
    );
    expect(entry).toMatchObject({
      task: 'image/ocr',
      model: 'ppocr-v4@3',
      variant: 'fp32',
      Latency: 38,
      ColdStart: 1,
      ModelLoadTime: 900,
    });
    expect(entry.MemoryRss).toBeGreaterThan(0);
  });

  it('writes the inference metrics under the provider’s dimension set too when the record names one', () => {
    const [entry] = emfOf(() =>
      new InferenceMetrics('Inferlet', 'inferlet-gpu').record({ ...record, provider: 'webgpu' }),
    );

    const [directive] = entry._aws.CloudWatchMetrics;
    expect(directive.Dimensions.map((set: string[]) => [...set].sort())).toEqual([
      [...INFERENCE_DIMENSIONS].sort(),
      [...PROVIDER_DIMENSIONS].sort(),
    ]);
    expect(entry).toMatchObject({
      service: 'inferlet-gpu',
      task: 'image/ocr',
      provider: 'webgpu',
      Latency: 38,
    });
  });

  it('writes only the model’s dimension set when the provider is not known', () => {
    const [entry] = emfOf(() => new InferenceMetrics('Inferlet', 'inferlet-lambda').record(record));

    const [directive] = entry._aws.CloudWatchMetrics;
    expect(directive.Dimensions.map((set: string[]) => [...set].sort())).toEqual([
      [...INFERENCE_DIMENSIONS].sort(),
    ]);
    expect(entry.provider).toBeUndefined();
  });

  it('stays silent when metrics are disabled, as in tests', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    new InferenceMetrics().record(record);

    expect(write).not.toHaveBeenCalled();
  });

  it('writes one outcome record for a refused request: Errors 1 with its status class, Requests 1 and the latency', () => {
    const emf = emfOf(() =>
      new InferenceMetrics('Inferlet', 'inferlet-lambda').recordOutcome({
        task: 'image/ocr',
        source: 'http',
        status: 422,
        latencyMs: 12.5,
      }),
    );

    expect(emf).toHaveLength(1);
    const [entry] = emf;
    const [directive] = entry._aws.CloudWatchMetrics;
    expect(directive.Namespace).toBe('Inferlet');
    expect(directive.Dimensions).toEqual([[...OUTCOME_DIMENSIONS], [...REQUEST_DIMENSIONS]]);
    expect(directive.Metrics).toEqual([
      { Name: 'Requests', Unit: 'Count' },
      { Name: 'Errors', Unit: 'Count' },
      { Name: 'RequestLatency', Unit: 'Milliseconds' },
    ]);
    expect(entry).toMatchObject({
      service: 'inferlet-lambda',
      task: 'image/ocr',
      source: 'http',
      statusClass: '4xx',
      status: '422',
      Requests: 1,
      Errors: 1,
      RequestLatency: 12.5,
    });
  });

  it('gives each record its own task and writes no warning when one emitter serves many records', () => {
    const warnings = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    const records = emfOf(() => {
      const metrics = new InferenceMetrics('Inferlet', 'inferlet-gpu');
      for (const task of ['image/ocr', 'text/classify', 'image/ocr']) {
        metrics.recordOutcome({ task, source: 'http', status: 200, latencyMs: 1 });
        metrics.record({ ...record, task });
      }
    });

    expect(records.map((r) => r.task)).toEqual([
      'image/ocr',
      'image/ocr',
      'text/classify',
      'text/classify',
      'image/ocr',
      'image/ocr',
    ]);
    expect(records.every((r) => r.service === 'inferlet-gpu')).toBe(true);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('counts a server fault as 5xx and a success as a request with no Errors', () => {
    const [failed, succeeded] = emfOf(() => {
      // Settings (POWERTOOLS_METRICS_DISABLED among them) are read when the emitter is made.
      const metrics = new InferenceMetrics('Inferlet', 'inferlet-gpu');
      metrics.recordOutcome({ task: NO_TASK, source: 'upload', status: 503, latencyMs: 3 });
      metrics.recordOutcome({ task: 'text/classify', source: 'http', status: 200, latencyMs: 4 });
    });

    expect(failed).toMatchObject({ task: 'none', source: 'upload', statusClass: '5xx', Errors: 1 });
    expect(succeeded).toMatchObject({ task: 'text/classify', statusClass: '2xx', Requests: 1 });
    expect(succeeded).not.toHaveProperty('Errors');
    expect(succeeded._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toEqual([
      'Requests',
      'RequestLatency',
    ]);
  });
});
