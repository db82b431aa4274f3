import { Hono } from 'hono';
import { loadSettings } from '../config/env.ts';
import {
  echoed,
  InvalidInputError,
  ModelNotReadyError,
  NotFoundError,
  PayloadTooLargeError,
} from '../errors.ts';
import type { InferenceService } from '../inference-service.ts';
import type { ModelManifest } from '../model-store/manifest.ts';
import type { LoadedModel } from '../model-store/types.ts';
import { type ModelRunner, openOffThreadSession } from '../off-thread-session.ts';
import type { InferenceSession, Tensor } from '../onnx.ts';
import { type ProviderReport, providerOf, runtimeErrorText } from '../session.ts';
import { parseJsonObject } from '../tasks/request-body.ts';
import { inferResponseJson, toOrtTensor } from './oip-tensors.ts';

/** Bounds of OIP tensor inference; by default `OIP_MAX_ELEMENTS` and `OIP_MAX_RESPONSE_BYTES`. */
export interface OipLimits {
  /** Most elements of a call's inputs together, and of its outputs together. */
  readonly maxElements: number;
  /** Largest answer, in bytes of JSON. */
  readonly maxResponseBytes: number;
}

/**
 * Whether OIP runs go to a worker thread: onnxruntime-node's `session.run` holds the calling thread, and a
 * detection of a million elements held the server's event loop, and its health probes, for a second. Not
 * on Lambda (one request at a time: the worker would cost memory and cold start for nothing) nor for a
 * session on a GPU provider, as the OCR pipeline decides.
 */
function runsOffThread(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.AWS_LAMBDA_FUNCTION_NAME === undefined;
}

function limitsFromEnv(): OipLimits {
  const settings = loadSettings();
  return { maxElements: settings.OIP_MAX_ELEMENTS, maxResponseBytes: settings.OIP_MAX_RESPONSE_BYTES };
}

const SERVER = { name: 'inferlet', version: '0.1.0', extensions: ['model_repository'] };

function metadata(manifest: ModelManifest, versions: string[], provider: ProviderReport | undefined) {
  const tensor = (t: ModelManifest['inputs'][number]) => ({
    name: t.name,
    datatype: t.datatype,
    shape: t.dims,
  });
  return {
    name: manifest.name,
    versions,
    platform: manifest.platform === 'ensemble' ? 'ensemble' : 'onnxruntime_onnx',
    inputs: manifest.inputs.map(tensor),
    outputs: manifest.outputs.map(tensor),
    // An extension field: the execution provider of the loaded session, what was asked and why it differs
    // (a GPU provider that could not load); absent until the model is loaded, and for ensembles.
    ...(provider && { execution_provider: provider }),
  };
}

/**
 * The Open Inference Protocol v2 (REST) over the service's models: health, server and model metadata,
 * readiness, tensor inference and the repository index.
 *
 * Tensor inference is bounded (`limits`): inputs over the element limit, a batch over the manifest's
 * `maxBatchSize` and outputs whose size the model's metadata fixes over the limit are refused with 413
 * before the run; other outputs are counted after the run, and the answer's bytes while it is serialised,
 * before anything is sent. It runs through {@link InferenceService.admit} in the admission queue of the task
 * that serves the model, as that task's requests do.
 */
export function oipRoutes(service: InferenceService, limits: OipLimits = limitsFromEnv()): Hono {
  const app = new Hono();
  const { store } = service;

  const offThread = runsOffThread();
  /** Each loaded model's copy on a worker thread, opened at its first OIP run. */
  const runners = new WeakMap<LoadedModel, Promise<ModelRunner>>();
  const runnerOf = (loaded: LoadedModel, session: InferenceSession): Promise<ModelRunner> => {
    const file = loaded.files.get(loaded.manifest.variants[loaded.variant]?.file ?? '');
    // A session on a GPU provider stays: a copy would compile its shaders again, and the GPU does the work.
    const onCpu = (providerOf(session)?.provider ?? 'cpu') === 'cpu';
    if (!offThread || !onCpu || file === undefined) return Promise.resolve(session);
    let runner = runners.get(loaded);
    if (!runner) {
      runner = openOffThreadSession(file);
      // A worker that failed to open is not kept: the next call tries again.
      runner.catch(() => runners.delete(loaded));
      runners.set(loaded, runner);
    }
    return runner;
  };

  const versionsOf = async (name: string) =>
    (await store.index()).filter((e) => e.name === name).map((e) => e.version);

  /**
   * A served, loaded model with a session, loading the served tasks first if they are not yet: as the task
   * routes do, a request that arrives during loading (a cold Lambda's first) waits for it.
   */
  const sessionOf = async (name: string, version: string | undefined) => {
    const manifest = await store.manifest(name, version);
    await service.warm();
    if (!service.loadedModels().some((m) => m.name === name && m.version === manifest.version)) {
      if (!service.isServedModel(name))
        throw new NotFoundError(`model ${echoed(name)} is not served by this function`);
      throw new ModelNotReadyError(`model ${name}@${manifest.version} is not ready`);
    }
    const loaded = store.peek(name, manifest.version);
    if (!loaded) throw new ModelNotReadyError(`model ${name}@${manifest.version} is not ready`);
    if (!loaded.session) {
      throw new InvalidInputError(
        `model ${name} is an ensemble; call its task route (e.g. /v1/${manifest.task})`,
      );
    }
    return {
      manifest,
      session: loaded.session,
      run: () => runnerOf(loaded, loaded.session as InferenceSession),
    };
  };

  app.get('/v2', (c) => c.json(SERVER));
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) =>
    service.isReady() ? c.json({ ready: true }) : c.json({ ready: false, error: 'models are loading' }, 503),
  );

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(prefix, async (c) => {
      const manifest = await store.manifest(c.req.param('name') ?? '', c.req.param('version'));
      const provider = providerOf(store.peek(manifest.name, manifest.version)?.session);
      return c.json(metadata(manifest, await versionsOf(manifest.name), provider));
    });
    app.get(`${prefix}/ready`, async (c) => {
      const manifest = await store.manifest(c.req.param('name') ?? '', c.req.param('version'));
      const ready = store.state(manifest.name, manifest.version) === 'READY';
      return c.json({ name: manifest.name, version: manifest.version, ready }, ready ? 200 : 503);
    });
    app.post(`${prefix}/infer`, async (c) => {
      const { manifest, session, run } = await sessionOf(c.req.param('name') ?? '', c.req.param('version'));
      const body = parseJsonObject(new Uint8Array(await c.req.arrayBuffer()));
      // The model's own task's queue, so that tensor runs and task requests share one limit and one estimate.
      const task = service.taskOfModel(manifest.name);
      const json = await service.admit(() => infer(manifest, session, run, body, limits), { task });
      return c.body(json, 200, { 'Content-Type': 'application/json' });
    });
  }

  app.post('/v2/repository/index', async (c) => c.json(await store.index()));
  return app;
}

/** The elements of a shape. */
const elementsOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * How many elements the wanted outputs will have, where the model says so before the run: a dim fixed in
 * the manifest or the graph, or a symbolic dim the graph shares with an input (`batch` in and out). Outputs
 * with a dim known only after the run (the recogniser's time axis) count for nothing here.
 */
function knownOutputElements(
  manifest: ModelManifest,
  session: InferenceSession,
  feeds: Readonly<Record<string, Tensor>>,
  wanted: readonly string[],
): number {
  const symbols = new Map<string, number>();
  for (const meta of session.inputMetadata) {
    const tensor = feeds[meta.name];
    if (!meta.isTensor || !tensor) continue;
    meta.shape.forEach((dim, i) => {
      // onnxruntime names an unnamed dim "": two of those are not the same dim.
      if (typeof dim === 'string' && dim !== '' && tensor.dims[i] !== undefined)
        symbols.set(dim, tensor.dims[i]);
    });
  }
  let total = 0;
  for (const name of wanted) {
    const meta = session.outputMetadata.find((m) => m.name === name);
    const declared = manifest.outputs.find((o) => o.name === name)?.dims;
    if (!meta?.isTensor) continue;
    const dims = meta.shape.map((dim, i) => {
      const fixed = declared?.[i];
      if (fixed !== undefined && fixed >= 0) return fixed;
      return typeof dim === 'number' ? dim : symbols.get(dim);
    });
    if (dims.every((d): d is number => d !== undefined)) total += elementsOf(dims);
  }
  return total;
}

/** A 413 naming what is over the element limit. */
function tooManyElements(what: string, count: number, limits: OipLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(
    `${what} would have ${count} elements, more than the limit of ${limits.maxElements}`,
  );
}

/**
 * One OIP infer call: checks and converts the inputs, runs the model (`runner`: the session, or its copy on
 * a worker thread) and serialises the wanted outputs. `session` gives the model's names and metadata.
 */
async function infer(
  manifest: ModelManifest,
  session: InferenceSession,
  runner: () => Promise<ModelRunner>,
  body: Record<string, unknown>,
  limits: OipLimits,
): Promise<string> {
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw new InvalidInputError('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw new InvalidInputError('"inputs" must be a non-empty array');
  // From the declared shapes, before any data is read: the run's cost grows with what it is given.
  const declared = inputs.reduce((sum: number, input) => {
    const shape = (input as { shape?: unknown } | null)?.shape;
    return Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0)
      ? sum + elementsOf(shape as number[])
      : sum;
  }, 0);
  if (declared > limits.maxElements) throw tooManyElements('the inputs', declared, limits);
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    const name = (input as { name?: unknown } | null)?.name;
    const spec = manifest.inputs.find((s) => s.name === name);
    const tensor = toOrtTensor(input, spec, limits.maxElements);
    if (typeof name !== 'string' || name in feeds)
      throw new InvalidInputError(`input ${echoed(name)} given twice`);
    // Triton's reading of maxBatchSize: the first dim of an input whose first dim is variable is the batch.
    if (manifest.maxBatchSize > 0 && spec?.dims[0] === -1 && (tensor.dims[0] ?? 0) > manifest.maxBatchSize) {
      throw new PayloadTooLargeError(
        `input ${echoed(name)}: batch of ${tensor.dims[0]} is larger than the model's maxBatchSize ${manifest.maxBatchSize}`,
      );
    }
    feeds[name] = tensor;
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new InvalidInputError(`missing inputs: ${missing.join(', ')}`);

  let wanted = session.outputNames;
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw new InvalidInputError('"outputs" must be an array of { name }');
    wanted = outputs.map((o) => {
      const name = (o as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !session.outputNames.includes(name)) {
        throw new InvalidInputError(
          `unknown output ${echoed(name)}; outputs: ${session.outputNames.join(', ')}`,
        );
      }
      return name;
    });
  }
  const known = knownOutputElements(manifest, session, feeds, wanted);
  if (known > limits.maxElements) throw tooManyElements('the outputs', known, limits);

  // Opening the worker's copy is the server's affair: its failure is not the client's (a 500, not a 400).
  const model = await runner();
  let results: Record<string, Tensor>;
  try {
    results = await model.run(feeds);
  } catch (error) {
    // The client gets what its inputs broke (the node and the reason); onnxruntime's source paths and C++
    // functions stay in the log.
    throw new InvalidInputError(`inference failed: ${runtimeErrorText(error)}`, {
      cause: error,
      detail: error instanceof Error ? error.message : String(error),
    });
  }
  const produced = wanted.map((name) => ({ name, tensor: results[name] as Tensor }));
  const count = produced.reduce((sum, { tensor }) => sum + tensor.size, 0);
  // After the run, before any of it is turned into text: an output the metadata could not size.
  if (count > limits.maxElements) throw tooManyElements('the outputs', count, limits);
  const head = {
    model_name: manifest.name,
    model_version: manifest.version,
    ...(id !== undefined ? { id } : {}),
  };
  return inferResponseJson(head, produced, limits.maxResponseBytes);
}
