import { stat } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_MODEL_REPOSITORY, defaultModelCacheDir, loadSettings } from '../config/env.ts';
import {
  ChecksumMismatchError,
  echoed,
  InferletError,
  InvalidInputError,
  ModelNotFoundError,
} from '../errors.ts';
import type { InferenceSession } from '../onnx.ts';
import { createSession, type SessionConfig } from '../session.ts';
import { DiskCache, mismatchMessage } from './disk-cache.ts';
import type { ManifestFile, ModelManifest } from './manifest.ts';
import { type ModelRepository, type ModelVersionRef, openRepository } from './repository.ts';
import { isSegment } from './segment.ts';
import { sha256File } from './sha256-file.ts';
import type { LoadedModel, ModelIndexEntry, ModelState, ModelStore } from './types.ts';
import { compareVersionRefs, defaultVersion, sortVersions } from './versions.ts';

/** Options of {@link createModelStore}; each falls back to the environment, then to a default. */
export interface ModelStoreOptions {
  /** A folder or `s3://bucket/prefix`. Default: `MODEL_REPOSITORY`, else `models` (relative to the cwd). */
  readonly repository?: string;
  /** Where downloads are kept by content hash. Default: `MODEL_CACHE_DIR`, else `<tmpdir>/inferlet-models`. */
  readonly cacheDir?: string;
  /** Client for an S3 repository. Default: one configured from the environment (`AWS_ENDPOINT_URL_S3` too). */
  readonly s3Client?: S3Client;
  /** How sessions are created. Default: {@link createSession}'s, from the environment. */
  readonly sessionConfig?: SessionConfig;
  /** Deployment tier whose variant `load` picks (`manifest.tiers[tier]`). Default: `MODEL_TIER`. */
  readonly tier?: string;
  /** Keys per S3 ListObjectsV2 page. Default: 1000. */
  readonly listPageSize?: number;
  /** How long the version list of a model is reused to pick its default version. Default: 60 s. */
  readonly listingTtlMs?: number;
}

/** Options of {@link RepositoryModelStore}. */
export interface RepositoryModelStoreOptions {
  readonly sessionConfig?: SessionConfig;
  readonly tier?: string;
  readonly listingTtlMs?: number;
}

/**
 * Creates the model store of this process from options and the environment.
 *
 * @example
 * ```ts
 * const store = createModelStore(); // MODEL_REPOSITORY, MODEL_CACHE_DIR, MODEL_TIER
 * const detector = await store.load('ppocr-v4-det'); // highest version, tier's or default variant
 * const outputs = await detector.session?.run(feeds);
 * ```
 */
export function createModelStore(options: ModelStoreOptions = {}, env = process.env): ModelStore {
  const settings = loadSettings(env);
  const repository = openRepository(
    options.repository ?? settings.MODEL_REPOSITORY ?? DEFAULT_MODEL_REPOSITORY,
    {
      ...(options.s3Client && { s3Client: options.s3Client }),
      ...(options.listPageSize !== undefined && { listPageSize: options.listPageSize }),
    },
  );
  const cache = new DiskCache(options.cacheDir ?? settings.MODEL_CACHE_DIR ?? defaultModelCacheDir());
  const tier = options.tier ?? settings.MODEL_TIER;
  return new RepositoryModelStore(repository, cache, {
    ...(options.sessionConfig && { sessionConfig: options.sessionConfig }),
    ...(tier && { tier }),
    ...(options.listingTtlMs !== undefined && { listingTtlMs: options.listingTtlMs }),
  });
}

interface VariantSlot {
  loading?: Promise<LoadedModel> | undefined;
  loaded?: LoadedModel | undefined;
}

/** What this process knows of one model version. */
interface VersionRecord {
  readonly variants: Map<string, VariantSlot>;
  /** The variant `load` picks when none is asked for, once the manifest has been read. */
  preferred?: string;
  /** Why the last load failed; cleared by a successful one. */
  failure?: string | undefined;
}

/**
 * A {@link ModelStore} over any {@link ModelRepository}: manifests are read once, remote files are kept in a
 * {@link DiskCache}, local files are verified in place, and each (model, version, variant) is loaded once.
 */
export class RepositoryModelStore implements ModelStore {
  private readonly records = new Map<string, VersionRecord>();
  private readonly manifests = new Map<string, Promise<ModelManifest>>();
  private readonly listings = new Map<
    string,
    { readonly at: number; readonly refs: Promise<ModelVersionRef[]> }
  >();
  private readonly listingTtlMs: number;

  constructor(
    private readonly repository: ModelRepository,
    private readonly cache: DiskCache,
    private readonly options: RepositoryModelStoreOptions = {},
  ) {
    this.listingTtlMs = options.listingTtlMs ?? 60_000;
  }

  get location(): string {
    return this.repository.location;
  }

  async index(): Promise<ModelIndexEntry[]> {
    const refs = await this.repository.listVersions();
    return refs.sort(compareVersionRefs).map(({ name, version }) => {
      const state = this.state(name, version);
      const reason = state === 'FAILED' ? this.records.get(key(name, version))?.failure : undefined;
      return reason === undefined ? { name, version, state } : { name, version, state, reason };
    });
  }

  async manifest(name: string, version?: string): Promise<ModelManifest> {
    return this.readManifest(name, version ?? (await this.latestVersion(name)));
  }

  async load(name: string, version?: string, variant?: string): Promise<LoadedModel> {
    const started = performance.now();
    const resolved = version ?? (await this.latestVersion(name));
    let manifest: ModelManifest;
    try {
      manifest = await this.readManifest(name, resolved);
    } catch (error) {
      // A version that exists but whose manifest cannot be used is FAILED; an unknown one stays unknown.
      if (!(error instanceof ModelNotFoundError)) this.record(name, resolved).failure = reasonOf(error);
      throw error;
    }
    const record = this.record(name, resolved);
    record.preferred = this.preferredVariant(manifest);
    const chosen = variant ?? record.preferred;
    if (!Object.hasOwn(manifest.variants, chosen)) {
      throw new InvalidInputError(
        `model "${name}" version "${resolved}" has no variant "${chosen}"; valid variants: ` +
          Object.keys(manifest.variants).join(', '),
      );
    }
    let slot = record.variants.get(chosen);
    if (!slot) {
      slot = {};
      record.variants.set(chosen, slot);
    }
    if (slot.loaded) return slot.loaded;
    if (slot.loading) return slot.loading;
    const current = slot;
    const loading = this.loadVariant(manifest, chosen, started).then(
      (loaded) => {
        current.loaded = loaded;
        current.loading = undefined;
        record.failure = undefined;
        return loaded;
      },
      (error: unknown) => {
        current.loading = undefined;
        record.failure = reasonOf(error);
        // The next attempt reads the manifest again: the fix may be there rather than in a file.
        this.manifests.delete(key(name, resolved));
        throw error;
      },
    );
    current.loading = loading;
    return loading;
  }

  peek(name: string, version: string): LoadedModel | undefined {
    const record = this.records.get(key(name, version));
    if (!record) return undefined;
    const preferred = record.preferred === undefined ? undefined : record.variants.get(record.preferred);
    if (preferred?.loaded) return preferred.loaded;
    for (const slot of record.variants.values()) if (slot.loaded) return slot.loaded;
    return undefined;
  }

  state(name: string, version: string): ModelState {
    const record = this.records.get(key(name, version));
    if (!record) return 'UNAVAILABLE';
    const slots = [...record.variants.values()];
    if (slots.some((s) => s.loaded)) return 'READY';
    if (slots.some((s) => s.loading)) return 'LOADING';
    return record.failure === undefined ? 'UNAVAILABLE' : 'FAILED';
  }

  private record(name: string, version: string): VersionRecord {
    const k = key(name, version);
    let record = this.records.get(k);
    if (!record) {
      record = { variants: new Map() };
      this.records.set(k, record);
    }
    return record;
  }

  private preferredVariant(manifest: ModelManifest): string {
    const tier = this.options.tier;
    const forTier = tier === undefined ? undefined : manifest.tiers?.[tier];
    return forTier ?? manifest.defaultVariant;
  }

  /** Reads a manifest once; concurrent readers share the read, and a failed read is not kept. */
  private readManifest(name: string, version: string): Promise<ModelManifest> {
    if (!isSegment(name) || !isSegment(version)) return this.notFound(name, version);
    const k = key(name, version);
    let reading = this.manifests.get(k);
    if (!reading) {
      const started = this.repository.readManifest(name, version).catch((error: unknown) => {
        if (this.manifests.get(k) === started) this.manifests.delete(k);
        if (error instanceof ModelNotFoundError) return this.notFound(name, version, error);
        throw error;
      });
      reading = started;
      this.manifests.set(k, reading);
    }
    return reading;
  }

  /** The highest numeric version of a model. */
  private async latestVersion(name: string): Promise<string> {
    if (!isSegment(name)) return this.notFound(name);
    const versions = (await this.versionsOf(name)).map((r) => r.version);
    if (versions.length === 0) return this.notFound(name);
    const latest = defaultVersion(versions);
    if (latest === undefined) {
      throw new ModelNotFoundError(
        `model ${echoed(name)} has no numeric version to default to; give one of: ${sortVersions(versions).join(', ')}`,
      );
    }
    return latest;
  }

  /** The versions of a model, reused for a while; an empty answer is not kept (the model may appear). */
  private versionsOf(name: string): Promise<ModelVersionRef[]> {
    const cached = this.listings.get(name);
    if (cached && performance.now() - cached.at < this.listingTtlMs) return cached.refs;
    const refs = this.repository.listVersions(name);
    const entry = { at: performance.now(), refs };
    this.listings.set(name, entry);
    const forget = () => {
      if (this.listings.get(name) === entry) this.listings.delete(name);
    };
    refs.then((found) => found.length === 0 && forget(), forget);
    return refs;
  }

  /**
   * Throws a {@link ModelNotFoundError} that lists what is available instead. The names asked for come from
   * a client: they are echoed cut short, and the repository's location stays in the log (`detail`).
   */
  private async notFound(name: string, version?: string, cause?: unknown): Promise<never> {
    const all = await this.repository.listVersions();
    const versions = all.filter((r) => r.name === name).map((r) => r.version);
    const options = { cause, detail: `repository ${this.location}` };
    if (versions.length === 0) {
      const models = [...new Set(all.map((r) => r.name))].sort();
      throw new ModelNotFoundError(
        `model ${echoed(name)} not found in the repository; available models: ${models.join(', ') || '(none)'}`,
        options,
      );
    }
    throw new ModelNotFoundError(
      `model ${echoed(name)} has no version ${echoed(version)}; available versions: ${sortVersions(versions).join(', ')}`,
      options,
    );
  }

  private async loadVariant(manifest: ModelManifest, variant: string, started: number): Promise<LoadedModel> {
    const needed = filesOfVariant(manifest, variant);
    // Settling every file before failing keeps no download running behind a FAILED state.
    const settled = await Promise.allSettled(needed.map((file) => this.verifiedPath(manifest, file)));
    const files = new Map<string, string>();
    for (const [i, result] of settled.entries()) {
      if (result.status === 'rejected') throw result.reason;
      files.set((needed[i] as ManifestFile).path, result.value);
    }
    const weights = manifest.variants[variant]?.file;
    let session: InferenceSession | undefined;
    if (manifest.platform === 'onnxruntime' && weights !== undefined) {
      // The manifest names the model (per-model providers) and its served shapes (GPU warm-up).
      session = await createSession(files.get(weights) as string, this.options.sessionConfig, manifest);
    }
    return Object.freeze({
      manifest,
      variant,
      files,
      session,
      loadMs: Math.round((performance.now() - started) * 100) / 100,
    });
  }

  /** The local path of a manifest file, verified against its size and sha256. */
  private async verifiedPath(manifest: ModelManifest, file: ManifestFile): Promise<string> {
    const label = `model "${manifest.name}" version "${manifest.version}" file "${file.path}"`;
    const local = this.repository.localPath(manifest.name, manifest.version, file.path);
    if (local === undefined) {
      const open = () => this.repository.openFile(manifest.name, manifest.version, file.path);
      return (await this.cache.fetch(file, open, label)).path;
    }
    let bytes: number;
    try {
      bytes = (await stat(local)).size;
    } catch (error) {
      throw new ModelNotFoundError(`${label} not found`, { cause: error, detail: `path ${local}` });
    }
    const sha256 = await sha256File(local);
    if (bytes !== file.bytes || sha256 !== file.sha256) {
      throw new ChecksumMismatchError(mismatchMessage(label, file, { bytes, sha256 }));
    }
    return local;
  }
}

/** The files a variant needs: its own weights and every file that is no variant's weights. */
export function filesOfVariant(manifest: ModelManifest, variant: string): ManifestFile[] {
  const weights = new Set(Object.values(manifest.variants).map((v) => v.file));
  const own = manifest.variants[variant]?.file;
  return manifest.files.filter((f) => f.path === own || !weights.has(f.path));
}

function key(name: string, version: string): string {
  return `${name}/${version}`;
}

/**
 * Why a load failed, as the repository index shows it to clients: an {@link InferletError}'s message, which
 * holds no internals; anything else (onnxruntime's text names the cached file's path) only says where to look.
 */
function reasonOf(error: unknown): string {
  return error instanceof InferletError
    ? error.message
    : 'the model failed to load; the server log has the cause';
}
