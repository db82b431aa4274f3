/**
 * Inference sessions whose runs happen on a worker thread. onnxruntime-node's `session.run` is
 * synchronous on the calling thread (it only waits for a `setImmediate` first): a 960×960 text detection
 * holds the event loop for ~350 ms on two cores, and every other request and health probe of the server
 * waits that long. A session opened here runs on a thread of its own, so the loop stays free.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { describeError, log } from './log.ts';
import type { ort } from './onnx.ts';
import { type SessionConfig, sessionConfigFromEnv, sessionOptions } from './session.ts';

/** What a pipeline needs of a session: its input and output names and `run`. */
export interface ModelRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** How many runs it carries out at once (a pool of sessions); 1 where absent. */
  readonly parallelism?: number;
  /** Runs the model; with `fetches`, computes and answers only those outputs. */
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  run(feeds: Record<string, ort.Tensor>, fetches: readonly string[]): Promise<Record<string, ort.Tensor>>;
  /**
   * A run that has no other beside it (a request of one run): on a pool, made on a copy with all the
   * configured threads, which reads one wide line faster than a one-thread copy. Where absent, `run`.
   */
  runAlone?(
    feeds: Record<string, ort.Tensor>,
    fetches?: readonly string[],
  ): Promise<Record<string, ort.Tensor>>;
}

/** A tensor as it crosses threads. */
interface WireTensor {
  readonly type: ort.Tensor.Type;
  readonly data: ort.Tensor.DataType;
  readonly dims: readonly number[];
}

type Reply =
  | { id: number; inputNames: string[]; outputNames: string[] }
  | { id: number; outputs: Record<string, WireTensor> }
  | { id: number; error: string };

// Plain CommonJS, evaluated by the worker: no file to ship beside a bundle, no TypeScript loader needed.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.onnxruntime);
ort.env.logLevel = 'fatal';
let session;
const buffers = (values) => {
  const seen = new Set();
  for (const t of values) if (t.data && t.data.buffer && t.data.buffer.byteLength === t.data.byteLength) seen.add(t.data.buffer);
  return [...seen];
};
parentPort.on('message', async (message) => {
  try {
    if (message.type === 'open') {
      session = await ort.InferenceSession.create(message.path, message.options);
      parentPort.postMessage({ id: message.id, inputNames: session.inputNames, outputNames: session.outputNames });
      return;
    }
    const feeds = {};
    for (const [name, t] of Object.entries(message.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const out = message.fetches ? await session.run(feeds, message.fetches) : await session.run(feeds);
    const outputs = {};
    for (const [name, t] of Object.entries(out)) outputs[name] = { type: t.type, data: t.data, dims: t.dims };
    // The inputs go back too, unread: moved, their memory is freed with the message rather than waiting
    // for this thread's rare garbage collections (a few MB a run piled up to ~30 MB between them).
    const moved = new Set([...buffers(Object.values(outputs)), ...buffers(Object.values(message.feeds))]);
    try {
      parentPort.postMessage({ id: message.id, outputs }, [...moved]);
    } catch {
      // A buffer that cannot be moved (owned by native code) is copied instead.
      parentPort.postMessage({ id: message.id, outputs });
    }
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/**
 * A session over `modelPath` on a worker thread of its own (CPU provider). Runs queue in the worker, one
 * at a time, as they would on the main thread; inputs are moved to the worker (do not reuse a tensor's
 * data after `run`), outputs are moved back. The worker does not keep the process alive.
 *
 * @example
 * ```ts
 * const detector = await openOffThreadSession(files.get('model.onnx'));
 * const out = await detector.run({ x: tensor }); // the event loop stays free meanwhile
 * ```
 */
export async function openOffThreadSession(
  modelPath: string,
  config: SessionConfig = sessionConfigFromEnv(),
): Promise<ModelRunner & { close(): Promise<void> }> {
  const onnxruntime = createRequire(import.meta.url).resolve('onnxruntime-node');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { onnxruntime } });
  worker.unref();
  const pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (!waiter) return;
    if ('error' in reply) waiter.reject(new Error(reply.error));
    else waiter.resolve(reply);
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', (code) => failAll(new Error(`inference worker exited with code ${code}`)));

  const call = (message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      // Only while a call is outstanding does the worker keep the process alive.
      if (pending.size === 1) worker.ref();
      worker.postMessage({ ...message, id }, transfer);
    }).finally(() => {
      if (pending.size === 0) worker.unref();
    });
  };

  const opened = await call({ type: 'open', path: modelPath, options: sessionOptions(config, 'cpu') });
  if (!('inputNames' in opened)) throw new Error('inference worker did not open the model');
  const { Tensor } = await import('onnxruntime-node');
  return {
    inputNames: opened.inputNames,
    outputNames: opened.outputNames,
    async run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) {
      const wire: Record<string, WireTensor> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name, tensor] of Object.entries(feeds)) {
        const data = tensor.data as ort.Tensor.DataType & ArrayBufferView;
        // A view of part of a buffer is copied, so that moving it cannot detach data the caller still uses.
        const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
        const moved = whole ? data : (data as unknown as { slice(): typeof data }).slice();
        wire[name] = { type: tensor.type, data: moved, dims: tensor.dims };
        if (moved.buffer instanceof ArrayBuffer) transfer.push(moved.buffer);
      }
      const reply = await call(
        { type: 'run', feeds: wire, ...(fetches && { fetches: [...fetches] }) },
        transfer,
      );
      if (!('outputs' in reply)) throw new Error('inference worker answered without outputs');
      const outputs: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(reply.outputs)) {
        outputs[name] = new Tensor(t.type, t.data as Float32Array, t.dims);
      }
      return outputs;
    },
    async close() {
      await worker.terminate();
    },
  };
}

/** A pool of sessions on worker threads: see {@link openSessionPool}. */
export interface SessionPool extends ModelRunner {
  /** `copies` once the one-thread copies are open, 1 until then. */
  readonly parallelism: number;
  /** Settles when the one-thread copies are open (or failed to open, logged; runs then stay on one copy). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * A session over `modelPath` with all the configured threads, on a worker thread, that resolves as soon as it
 * is open and serves every run at first; behind it `copies` more open in the background, each on a worker
 * thread of its own with one intra-op thread, and from then on carry out up to `copies` runs at once (each
 * run goes to the copy with the fewest runs waiting) while {@link ModelRunner.runAlone} goes to the first
 * when it is free (one 800-column line: 38 ms on two threads, 57 ms on one). For models whose runs are many and small, such
 * as the OCR recogniser's one line a run, runs side by side on one thread each use the cores better than one
 * run at a time on all of them: onnxruntime splits each operator across its threads, and the recogniser's
 * operators are too small to split well (four lines of 320 columns: 70 ms one after the other on two
 * threads, 44 ms two at a time on one thread each, on the 2-core build machine). Opening the copies in the
 * background keeps them off a cold start's path to its first answer.
 *
 * @example
 * ```ts
 * const recognizer = await openSessionPool(files.get('model.onnx'), 2);
 * await Promise.all(lines.map((line) => recognizer.run({ x: line }))); // two at a time, once ready
 * ```
 */
export async function openSessionPool(
  modelPath: string,
  copies: number,
  config: SessionConfig = sessionConfigFromEnv(),
): Promise<SessionPool> {
  if (!Number.isInteger(copies) || copies < 1) {
    throw new RangeError(`a session pool needs at least one copy, not ${copies}`);
  }
  const whole = await openOffThreadSession(modelPath, config);
  type Copy = Awaited<ReturnType<typeof openOffThreadSession>>;
  let single: Copy[] | undefined;
  const waiting: number[] = new Array(copies).fill(0);
  const wholeBusy = [0];
  const runOn = (session: Copy, feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) =>
    fetches ? session.run(feeds, fetches) : session.run(feeds);
  const onWhole = (feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) =>
    counted(wholeBusy, 0, () => runOn(whole, feeds, fetches));
  const onPool = (feeds: Record<string, ort.Tensor>, fetches?: readonly string[]) => {
    if (!single) return onWhole(feeds, fetches);
    const copy = single;
    const index = waiting.indexOf(Math.min(...waiting));
    return counted(waiting, index, () => runOn(copy[index] as Copy, feeds, fetches));
  };
  const ready = Promise.all(
    Array.from({ length: copies }, () => openOffThreadSession(modelPath, { ...config, intraOpThreads: 1 })),
  ).then(
    (opened) => {
      single = opened;
    },
    (error: unknown) => {
      log.warn('the one-thread copies of a session pool did not open; its runs stay on one copy', {
        model: modelPath,
        ...describeError(error),
      });
    },
  );
  return {
    inputNames: whole.inputNames,
    outputNames: whole.outputNames,
    get parallelism() {
      return single ? copies : 1;
    },
    ready,
    run: onPool,
    // Runs alone of concurrent requests do not queue behind each other on the one copy: while it is busy,
    // they go to the one-thread copies.
    runAlone: (feeds, fetches) =>
      wholeBusy[0] === 0 || !single ? onWhole(feeds, fetches) : onPool(feeds, fetches),
    async close() {
      await ready;
      await Promise.all([whole, ...(single ?? [])].map((session) => session.close()));
    },
  };
}

/** Runs `work` with `counts[index]` raised by one while it is under way. */
async function counted<T>(counts: number[], index: number, work: () => Promise<T>): Promise<T> {
  counts[index] = (counts[index] as number) + 1;
  try {
    return await work();
  } finally {
    counts[index] = (counts[index] as number) - 1;
  }
}
