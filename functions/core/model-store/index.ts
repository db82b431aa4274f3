/**
 * The model store: manifests, repositories (folder or S3), the disk cache and the store that loads
 * model versions once, verified.
 */
export { type CachedFile, type CacheOutcome, DiskCache, type ExpectedContent } from './disk-cache.ts';
export * from './manifest.ts';
export {
  isSegment,
  LocalRepository,
  type ModelRepository,
  type ModelVersionRef,
  type OpenRepositoryOptions,
  openRepository,
  parseS3Location,
  S3Repository,
} from './repository.ts';
export {
  createModelStore,
  filesOfVariant,
  type ModelStoreOptions,
  RepositoryModelStore,
  type RepositoryModelStoreOptions,
} from './store.ts';
export type { LoadedModel, ModelIndexEntry, ModelState, ModelStore } from './types.ts';
