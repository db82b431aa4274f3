import type { InferenceSession } from '../onnx.ts';
import type { ModelManifest } from './manifest.ts';

/** Open Inference Protocol model states, as `POST /v2/repository/index` reports them. */
export type ModelState = 'UNAVAILABLE' | 'LOADING' | 'READY' | 'FAILED';

/** A model version whose files are on local disk, verified, with its session created. */
export interface LoadedModel {
  readonly manifest: ModelManifest;
  /** The variant that was loaded (a key of `manifest.variants`). */
  readonly variant: string;
  /** Local path of every manifest file, verified against its sha256, by manifest path. */
  readonly files: ReadonlyMap<string, string>;
  /** The inference session of the variant's file; `undefined` for ensembles. */
  readonly session: InferenceSession | undefined;
  /** Milliseconds spent fetching, verifying and creating the session. */
  readonly loadMs: number;
}

/** One row of the repository index. */
export interface ModelIndexEntry {
  readonly name: string;
  readonly version: string;
  readonly state: ModelState;
  readonly reason?: string;
}

/** Reads model versions from a repository (folder or S3), caches and verifies them, and loads them once. */
export interface ModelStore {
  /** Where the repository is: a folder path or `s3://bucket/prefix`. */
  readonly location: string;
  /** Every model version in the repository, with its state in this process. */
  index(): Promise<ModelIndexEntry[]>;
  /** The manifest of `name` at `version` (default: the highest numeric version). */
  manifest(name: string, version?: string): Promise<ModelManifest>;
  /**
   * Loads a model version: single-flight (concurrent callers share one download and one session),
   * lazy, cached on disk by content hash, every file verified against its sha256 before use.
   */
  load(name: string, version?: string, variant?: string): Promise<LoadedModel>;
  /** The loaded model, if loading has finished; never starts a load. */
  peek(name: string, version: string): LoadedModel | undefined;
  /** The state of a model version in this process. */
  state(name: string, version: string): ModelState;
}
