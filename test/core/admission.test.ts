import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdmissionControl, type AdmissionEvent } from '../../functions/core/admission.ts';
import { OverloadedError } from '../../functions/core/errors.ts';
import { InferenceService, OIP_QUEUE } from '../../functions/core/inference-service.ts';
import { ADMISSION_DIMENSIONS, ADMISSION_METRICS } from '../../functions/core/metric-names.ts';
import { InferenceMetrics } from '../../functions/core/metrics.ts';
import { createModelStore } from '../../functions/core/model-store/store.ts';
import type { ModelStore } from '../../functions/core/model-store/types.ts';
import { speechVadTask } from '../../functions/speech/task.ts';
import { startTestServer, type TestServer } from '../support/http-server.ts';

/** A unit of work the test ends when it likes, and a log of the order the work started in. */
function controllableWork() {
  const started: number[] = [];
  const finishers = new Map<number, () => void>();
  const work = (id: number) => () =>
    new Promise<number>((resolve) => {
      started.push(id);
      finishers.set(id, () => resolve(id));
    });
  const finish = async (id: number) => {
    finishers.get(id)?.();
    // Let the admission hand the slot over and the next work start.
    await new Promise((r) => setTimeout(r, 0));
  };
  return { started, work, finish };
}

/** A clock the test moves. */
function manualClock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('AdmissionControl', () => {
  it('runs at most `concurrency` requests of a task at once and starts the rest in arrival order', async () => {
    const admission = new AdmissionControl({ concurrency: 2, maxWaitMs: 10_000 });
    const { started, work, finish } = controllableWork();

    const results = [1, 2, 3, 4].map((id) => admission.admit('text/classify', work(id)));
    await settle();
    const atFirst = [...started];
    await finish(1);
    const afterOne = [...started];
    await finish(2);
    await finish(3);
    await finish(4);

    expect(atFirst).toEqual([1, 2]);
    expect(afterOne).toEqual([1, 2, 3]);
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4]);
    expect(admission.state('text/classify')).toMatchObject({ running: 0, queued: 0 });
  });

  it('keeps the queues of tasks apart', async () => {
    const admission = new AdmissionControl({ concurrency: 1, maxWaitMs: 10_000 });
    const { started, work, finish } = controllableWork();

    const first = admission.admit('image/ocr', work(1));
    const other = admission.admit('speech/vad', work(2));
    await settle();

    expect(started).toEqual([1, 2]);
    await finish(1);
    await finish(2);
    await Promise.all([first, other]);
  });

  it('holds the queue of an unmeasured task to one round of `concurrency` and refuses the rest at once', async () => {
    const admission = new AdmissionControl({ concurrency: 2, maxWaitMs: 10_000 });
    const { work, finish } = controllableWork();

    const accepted = [1, 2, 3, 4].map((id) => admission.admit('image/ocr', work(id)));
    const refused = admission.admit('image/ocr', work(5));

    await expect(refused).rejects.toBeInstanceOf(OverloadedError);
    for (const id of [1, 2, 3, 4]) await finish(id);
    expect(await Promise.all(accepted)).toEqual([1, 2, 3, 4]);
  });

  it('accepts as many waiting requests as recent service times let finish within the maximum wait', async () => {
    const clock = manualClock();
    const admission = new AdmissionControl({ concurrency: 2, maxWaitMs: 1000, now: clock.now });
    const { work, finish } = controllableWork();
    // One run of 250 ms alone: nothing says two at once would be faster, so the queue is expected to move
    // one request forward every 250 ms, 4 within 1000 ms.
    const measured = admission.admit('image/ocr', work(0));
    await settle();
    clock.advance(250);
    await finish(0);
    await measured;

    const all = Array.from({ length: 12 }, (_, i) => admission.admit('image/ocr', work(i + 1)));
    const outcomes = await Promise.allSettled(
      all.map((p) => Promise.race([p, settle().then(() => 'queued')])),
    );

    const refused = outcomes.filter((o) => o.status === 'rejected');
    // 2 run, 4 wait (the 4th expects 4 x 250 = 1000 ms), 6 are refused.
    expect(admission.state('image/ocr')).toMatchObject({ running: 2, queued: 4, costMs: 250 });
    expect(refused).toHaveLength(6);
    const error = (refused[0] as PromiseRejectedResult).reason as OverloadedError;
    expect(error).toBeInstanceOf(OverloadedError);
    expect(error.status).toBe(503);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    for (let id = 1; id <= 6; id++) {
      clock.advance(250);
      await finish(id);
    }
    await Promise.allSettled(all);
  });

  it('asks a refused client to come back when the queue will have moved far enough', async () => {
    const clock = manualClock();
    const admission = new AdmissionControl({ concurrency: 1, maxWaitMs: 2000, now: clock.now });
    const { work, finish } = controllableWork();
    const measured = admission.admit('image/ocr', work(0));
    await settle();
    clock.advance(1000);
    await finish(0);
    await measured;

    // 1 runs, 2 wait (1 s each); the 4th arrival would wait 3 s, 1 s more than allowed.
    const accepted = [1, 2, 3].map((id) => admission.admit('image/ocr', work(id)));
    const refused = await admission.admit('image/ocr', work(4)).catch((error: OverloadedError) => error);

    expect(refused).toBeInstanceOf(OverloadedError);
    expect((refused as OverloadedError).retryAfterSeconds).toBe(1);
    for (const id of [1, 2, 3]) await finish(id);
    await Promise.all(accepted);
  });

  it('queues but never refuses work marked neverShed', async () => {
    const admission = new AdmissionControl({ concurrency: 1, maxWaitMs: 0 });
    const { started, work, finish } = controllableWork();

    const all = [1, 2, 3].map((id) => admission.admit('text/classify', work(id), { neverShed: true }));
    await settle();
    expect(started).toEqual([1]);
    for (const id of [1, 2, 3]) await finish(id);

    expect(await Promise.all(all)).toEqual([1, 2, 3]);
  });

  it('counts runs that share the slots at a fraction of their time each', async () => {
    const clock = manualClock();
    const admission = new AdmissionControl({ concurrency: 2, maxWaitMs: 1000, now: clock.now });
    const { work, finish } = controllableWork();

    // Two runs side by side for 400 ms: each is charged 200 ms, the queue moves one forward per 200 ms.
    const pair = [1, 2].map((id) => admission.admit('text/classify', work(id)));
    await settle();
    clock.advance(400);
    await finish(1);
    await finish(2);
    await Promise.all(pair);

    expect(admission.state('text/classify').costMs).toBe(200);
  });

  it('reports each decision: the queue depth on arrival, the wait of the accepted and the refused', async () => {
    const clock = manualClock();
    const admission = new AdmissionControl({ concurrency: 1, maxWaitMs: 0, now: clock.now });
    const events: AdmissionEvent[] = [];
    admission.onEvent((event) => events.push(event));
    const { work, finish } = controllableWork();

    const first = admission.admit('image/ocr', work(1));
    const second = admission.admit('image/ocr', work(2), { neverShed: true });
    const third = admission.admit('image/ocr', work(3)).catch(() => 'refused');
    await settle();
    clock.advance(40);
    await finish(1);
    await finish(2);
    await Promise.all([first, second, third]);

    expect(events).toEqual([
      { task: 'image/ocr', queueDepth: 0, shed: false, queueWaitMs: 0 },
      { task: 'image/ocr', queueDepth: 1, shed: true },
      { task: 'image/ocr', queueDepth: 0, shed: false, queueWaitMs: 40 },
    ]);
  });
});

describe('InferenceMetrics.recordAdmission', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('writes QueueDepth, QueueWait and Shed as EMF under the service and task', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new InferenceMetrics('Inferlet', 'gpu');

    metrics.recordAdmission({ task: 'image/ocr', queueDepth: 3, shed: false, queueWaitMs: 120 });
    metrics.recordAdmission({ task: 'image/ocr', queueDepth: 9, shed: true });

    const [accepted, shed] = lines
      .join('')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
    const directive = accepted._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe('Inferlet');
    expect(directive.Dimensions).toEqual([[...ADMISSION_DIMENSIONS]]);
    expect(directive.Metrics.map((m: { Name: string }) => m.Name).sort()).toEqual(
      [ADMISSION_METRICS.queueDepth, ADMISSION_METRICS.queueWait, ADMISSION_METRICS.shed].sort(),
    );
    expect(accepted).toMatchObject({
      service: 'gpu',
      task: 'image/ocr',
      QueueDepth: 3,
      QueueWait: 120,
      Shed: 0,
    });
    expect(shed).toMatchObject({ task: 'image/ocr', QueueDepth: 9, Shed: 1 });
    expect(shed.QueueWait).toBeUndefined();
  });
});

describe('InferenceService stopping', () => {
  const service = () =>
    new InferenceService({ store: {} as ModelStore, tasks: [], metrics: new InferenceMetrics('T', 't') });

  it('turns not ready, refuses new requests and resolves once the taken ones are answered', async () => {
    const s = service();
    const endFirst = s.beginRequest();
    const endSecond = s.beginRequest();
    let stopped = false;

    const stopping = s.stop().then(() => {
      stopped = true;
    });
    await settle();
    const refusal = (() => {
      try {
        s.beginRequest();
      } catch (error) {
        return error;
      }
    })();
    endFirst();
    await settle();
    const afterFirst = stopped;
    endSecond();
    await stopping;

    expect(s.isReady()).toBe(false);
    expect(refusal).toBeInstanceOf(OverloadedError);
    expect((refusal as OverloadedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(afterFirst).toBe(false);
    expect(stopped).toBe(true);
  });

  it('refuses upload work that has not started once stopping, and lets HTTP work taken before run', async () => {
    const s = service();
    s.useAdmission(new AdmissionControl({ concurrency: 1, maxWaitMs: 1000 }));
    void s.stop();

    const upload = s.admit(async () => 'ran', { task: 'text/classify', source: 'upload' });
    const http = s.admit(async () => 'ran', { task: 'text/classify', source: 'http' });

    await expect(upload).rejects.toBeInstanceOf(OverloadedError);
    await expect(http).resolves.toBe('ran');
  });
});

describe('OIP tensor inference under admission control', () => {
  let cacheDir: string;
  let server: TestServer;
  const events: AdmissionEvent[] = [];

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'inferlet-oip-admission-'));
    server = await startTestServer({
      tasks: [{ definition: speechVadTask, model: { name: 'silero-vad' } }],
      store: createModelStore({ repository: 'models', cacheDir }),
    });
    const admission = new AdmissionControl({ concurrency: 1, maxWaitMs: 10_000 });
    admission.onEvent((event) => events.push(event));
    server.runtime.service.useAdmission(admission);
    await server.runtime.service.warm();
  });

  afterAll(async () => {
    await server?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('waits in the queue of the task that serves the model, not a queue of its own', async () => {
    events.length = 0;
    const body = {
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, 576], data: new Array(576).fill(0) },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ],
    };

    const response = await fetch(`${server.url}/v2/models/silero-vad/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

    expect(response.status).toBe(200);
    expect(events.map((e) => e.task)).toEqual(['speech/vad']);
    expect(server.runtime.service.taskOfModel('silero-vad')).toBe('speech/vad');
  });

  it('keeps the shared OIP queue for work that names no task', async () => {
    events.length = 0;

    await server.runtime.service.admit(async () => 1);

    expect(events.map((e) => e.task)).toEqual([OIP_QUEUE]);
  });
});
