import { afterEach, describe, expect, it, vi } from 'vitest';
import { InferenceMetrics } from '../../functions/core/metrics.ts';

describe('InferenceMetrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  const record = {
    task: 'image/ocr',
    model: 'ppocr-v4@1',
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
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });

    new InferenceMetrics('Inferlet', 'image').record(record);

    const emf = lines
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => JSON.parse(l));
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
      model: 'ppocr-v4@1',
      variant: 'fp32',
      Latency: 38,
      ColdStart: 1,
      ModelLoadTime: 900,
    });
    expect(entry.MemoryRss).toBeGreaterThan(0);
  });

  it('stays silent when metrics are disabled, as in tests', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    new InferenceMetrics().record(record);

    expect(write).not.toHaveBeenCalled();
  });
});
