import { Hono } from 'hono';
import type { InferenceSession } from 'onnxruntime-node';
import { InvalidInputError, ModelNotReadyError, NotFoundError } from '../errors.ts';
import type { InferenceService } from '../inference-service.ts';
import type { ModelManifest } from '../model-store/manifest.ts';
import { parseJsonObject } from '../tasks/request-body.ts';
import { fromOrtTensor, toOrtTensor } from './oip-tensors.ts';

const SERVER = { name: 'inferlet', version: '0.1.0', extensions: ['model_repository'] };

function metadata(manifest: ModelManifest, versions: string[]) {
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
  };
}

/**
 * The Open Inference Protocol v2 (REST) over the service's models: health, server and model metadata,
 * readiness, tensor inference and the repository index.
 */
export function oipRoutes(service: InferenceService): Hono {
  const app = new Hono();
  const { store } = service;

  const versionsOf = async (name: string) =>
    (await store.index()).filter((e) => e.name === name).map((e) => e.version);

  /** A served, loaded model with a session, loading the served tasks first if they are not yet. */
  const sessionOf = async (name: string, version: string | undefined) => {
    const manifest = await store.manifest(name, version);
    if (!service.isServedModel(name)) await service.warm();
    if (!service.loadedModels().some((m) => m.name === name && m.version === manifest.version)) {
      if (!service.isServedModel(name))
        throw new NotFoundError(`model "${name}" is not served by this function`);
      throw new ModelNotReadyError(`model ${name}@${manifest.version} is not ready`);
    }
    const loaded = store.peek(name, manifest.version);
    if (!loaded) throw new ModelNotReadyError(`model ${name}@${manifest.version} is not ready`);
    if (!loaded.session) {
      throw new InvalidInputError(
        `model ${name} is an ensemble; call its task route (e.g. /v1/${manifest.task})`,
      );
    }
    return { manifest, session: loaded.session };
  };

  app.get('/v2', (c) => c.json(SERVER));
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) =>
    service.isReady() ? c.json({ ready: true }) : c.json({ ready: false, error: 'models are loading' }, 503),
  );

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(prefix, async (c) => {
      const manifest = await store.manifest(c.req.param('name') ?? '', c.req.param('version'));
      return c.json(metadata(manifest, await versionsOf(manifest.name)));
    });
    app.get(`${prefix}/ready`, async (c) => {
      const manifest = await store.manifest(c.req.param('name') ?? '', c.req.param('version'));
      const ready = store.state(manifest.name, manifest.version) === 'READY';
      return c.json({ name: manifest.name, version: manifest.version, ready }, ready ? 200 : 503);
    });
    app.post(`${prefix}/infer`, async (c) => {
      const { manifest, session } = await sessionOf(c.req.param('name') ?? '', c.req.param('version'));
      const body = parseJsonObject(new Uint8Array(await c.req.arrayBuffer()));
      const response = await infer(manifest, session, body);
      return c.json(response);
    });
  }

  app.post('/v2/repository/index', async (c) => c.json(await store.index()));
  return app;
}

async function infer(manifest: ModelManifest, session: InferenceSession, body: Record<string, unknown>) {
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw new InvalidInputError('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw new InvalidInputError('"inputs" must be a non-empty array');
  const feeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
  for (const input of inputs) {
    const name = (input as { name?: unknown } | null)?.name;
    const spec = manifest.inputs.find((s) => s.name === name);
    const tensor = toOrtTensor(input, spec);
    if (typeof name !== 'string' || name in feeds)
      throw new InvalidInputError(`input "${String(name)}" given twice`);
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
          `unknown output "${String(name)}"; outputs: ${session.outputNames.join(', ')}`,
        );
      }
      return name;
    });
  }
  let results: Awaited<ReturnType<InferenceSession['run']>>;
  try {
    results = await session.run(feeds, wanted);
  } catch (error) {
    // onnxruntime's message names shapes and nodes, never data: safe to return.
    throw new InvalidInputError(
      `inference failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return {
    model_name: manifest.name,
    model_version: manifest.version,
    ...(id !== undefined ? { id } : {}),
    outputs: wanted.map((name) =>
      fromOrtTensor(name, results[name] as NonNullable<(typeof results)[string]>),
    ),
  };
}
