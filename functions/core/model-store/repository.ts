import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { type InferletError, ModelNotFoundError, RepositoryUnavailableError } from '../errors.ts';
import { type ModelManifest, parseManifest } from './manifest.ts';
import { isSegment } from './segment.ts';

/** A model version present in a repository (its `manifest.json` exists). */
export interface ModelVersionRef {
  readonly name: string;
  readonly version: string;
}

/**
 * Where model versions come from: a local folder or an S3 prefix, both in the Triton layout
 * `<repository>/<name>/<version>/manifest.json` plus the files the manifest lists.
 */
export interface ModelRepository {
  /** A folder's absolute path, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Every version that has a manifest, optionally of one model only; in no particular order. */
  listVersions(name?: string): Promise<ModelVersionRef[]>;
  /**
   * The validated manifest of a version, whose name and version match its folder.
   * @throws ModelNotFoundError when the version has no manifest.
   */
  readManifest(name: string, version: string): Promise<ModelManifest>;
  /** The path of a version's file when the repository is on local disk (use in place), else `undefined`. */
  localPath(name: string, version: string, path: string): string | undefined;
  /**
   * Opens a version's file for reading.
   * @throws ModelNotFoundError when the file is missing.
   */
  openFile(name: string, version: string, path: string): Promise<Readable>;
}

/** Options of {@link openRepository}. */
export interface OpenRepositoryOptions {
  /** Client for `s3://` locations; default: a client configured from the environment. */
  readonly s3Client?: S3Client;
  /** Keys per ListObjectsV2 page (default and S3's maximum: 1000). */
  readonly listPageSize?: number;
}

/**
 * Opens a repository: `s3://bucket/prefix` or a folder (relative to the working directory).
 *
 * @example
 * ```ts
 * const repo = openRepository(process.env.MODEL_REPOSITORY ?? 'models');
 * const versions = await repo.listVersions('ppocr-v4-det');
 * ```
 */
export function openRepository(location: string, options: OpenRepositoryOptions = {}): ModelRepository {
  if (location.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Location(location);
    return new S3Repository(bucket, prefix, options);
  }
  return new LocalRepository(location);
}

/** Splits `s3://bucket/some/prefix` into the bucket and a key prefix that is empty or ends in `/`. */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!match?.[1]) throw new Error(`not an S3 location: "${location}" (expected s3://bucket/prefix)`);
  const prefix = match[2]?.replace(/^\/+|\/+$/g, '') ?? '';
  return { bucket: match[1], prefix: prefix ? `${prefix}/` : '' };
}

function describe(name: string, version: string): string {
  return `model "${name}" version "${version}"`;
}

/**
 * The manifest in `text`, checked. Its messages name the model and version, not the file's path or key: a
 * load failure's message reaches clients (as a model's state in the repository index).
 */
function checkedManifest(text: string, name: string, version: string): ModelManifest {
  const where = `of ${describe(name, version)}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`invalid manifest ${where}: it is not JSON`, { cause: error });
  }
  const manifest = parseManifest(json, where);
  if (manifest.name !== name || manifest.version !== version) {
    throw new Error(
      `invalid manifest ${where}: it declares model "${manifest.name}" version "${manifest.version}", ` +
        `but lies in the folder of ${describe(name, version)}`,
    );
  }
  return manifest;
}

/** A repository in a local folder; files are used in place. */
export class LocalRepository implements ModelRepository {
  readonly location: string;

  constructor(folder: string) {
    this.location = resolve(folder);
  }

  async listVersions(name?: string): Promise<ModelVersionRef[]> {
    const names = name === undefined ? await this.subfolders(this.location, true) : [name];
    const refs: ModelVersionRef[] = [];
    for (const model of names) {
      if (!isSegment(model)) continue;
      for (const version of await this.subfolders(join(this.location, model), false)) {
        if (isSegment(version) && (await isFile(join(this.location, model, version, 'manifest.json')))) {
          refs.push({ name: model, version });
        }
      }
    }
    return refs;
  }

  async readManifest(name: string, version: string): Promise<ModelManifest> {
    const path = join(this.location, name, version, 'manifest.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw fsError(error, `manifest of ${describe(name, version)}`, path);
    }
    return checkedManifest(text, name, version);
  }

  localPath(name: string, version: string, path: string): string {
    return join(this.location, name, version, path);
  }

  async openFile(name: string, version: string, path: string): Promise<Readable> {
    const local = this.localPath(name, version, path);
    // Opening first turns a missing file into an error here rather than on the first read.
    const stream = createReadStream(local);
    await new Promise<void>((done, fail) => {
      stream.once('open', () => done());
      stream.once('error', fail);
    }).catch((error: unknown) => {
      throw fsError(error, `file "${path}" of ${describe(name, version)}`, local);
    });
    return stream;
  }

  private async subfolders(folder: string, required: boolean): Promise<string[]> {
    try {
      const entries = await readdir(folder, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
    } catch (error) {
      if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new RepositoryUnavailableError('cannot list the model repository', {
        cause: error,
        detail: `folder ${folder}: ${errorText(error)}`,
      });
    }
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Maps a file system error; the path and the system's text are kept for the log only. */
function fsError(error: unknown, what: string, path: string): InferletError {
  const code = (error as NodeJS.ErrnoException).code;
  const detail = `path ${path}: ${errorText(error)}`;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ModelNotFoundError(`${what} not found`, { cause: error, detail });
  }
  return new RepositoryUnavailableError(`cannot read ${what}`, { cause: error, detail });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A repository under an S3 prefix; files are streamed from GetObject. */
export class S3Repository implements ModelRepository {
  readonly location: string;
  private readonly given: S3Client | undefined;
  private readonly pageSize: number;
  private sdk: Promise<{ client: S3Client; module: typeof import('@aws-sdk/client-s3') }> | undefined;

  /**
   * @param bucket - the bucket.
   * @param prefix - key prefix of the repository: empty, or ending in `/`.
   */
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    options: OpenRepositoryOptions = {},
  ) {
    this.location = `s3://${bucket}/${prefix}`;
    this.given = options.s3Client;
    this.pageSize = options.listPageSize ?? 1000;
  }

  /** The SDK, imported on first use so that a process serving a local folder never loads it. */
  private s3() {
    this.sdk ??= import('@aws-sdk/client-s3').then((module) => ({
      module,
      // The SDK reads the region, credentials and AWS_ENDPOINT_URL_S3 from the environment itself.
      client: this.given ?? new module.S3Client({ followRegionRedirects: true }),
    }));
    return this.sdk;
  }

  async listVersions(name?: string): Promise<ModelVersionRef[]> {
    // Listing every key and keeping `<name>/<version>/manifest.json` needs no delimiter handling, and a
    // version whose manifest is not yet uploaded (publishing writes it last) is not listed.
    const listPrefix = name === undefined ? this.prefix : `${this.prefix}${name}/`;
    const refs: ModelVersionRef[] = [];
    try {
      const { client, module } = await this.s3();
      const pages = module.paginateListObjectsV2(
        { client, pageSize: this.pageSize },
        { Bucket: this.bucket, Prefix: listPrefix },
      );
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          const parts = object.Key?.slice(this.prefix.length).split('/');
          if (parts?.length !== 3 || parts[2] !== 'manifest.json') continue;
          const [model = '', version = ''] = parts;
          if (isSegment(model) && isSegment(version)) refs.push({ name: model, version });
        }
      }
    } catch (error) {
      const what = name === undefined ? 'listing the models' : `listing the versions of model "${name}"`;
      throw s3Error(error, what, `s3://${this.bucket}/${listPrefix}`);
    }
    return refs;
  }

  async readManifest(name: string, version: string): Promise<ModelManifest> {
    const key = this.key(name, version, 'manifest.json');
    let text: string;
    try {
      const { client, module } = await this.s3();
      const object = await client.send(new module.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      text = (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      throw s3Error(error, `manifest of ${describe(name, version)}`, `s3://${this.bucket}/${key}`);
    }
    return checkedManifest(text, name, version);
  }

  localPath(): undefined {
    return undefined;
  }

  async openFile(name: string, version: string, path: string): Promise<Readable> {
    const key = this.key(name, version, path);
    try {
      const { client, module } = await this.s3();
      const object = await client.send(new module.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      // In Node the SDK's body is an http.IncomingMessage, a Readable.
      return object.Body as Readable;
    } catch (error) {
      throw s3Error(error, `file "${path}" of ${describe(name, version)}`, `s3://${this.bucket}/${key}`);
    }
  }

  private key(name: string, version: string, path: string): string {
    return `${this.prefix}${name}/${version}/${path}`;
  }
}

/**
 * Maps an S3 SDK error: a missing key is a missing model; anything else (throttling, 5xx, network,
 * a missing bucket, denied access) makes the repository unavailable. The bucket, the key and the SDK's text
 * are kept for the log only (`detail`).
 */
function s3Error(error: unknown, what: string, location: string): InferletError {
  const name = (error as { name?: string }).name;
  const detail = `${location}: ${errorText(error)}`;
  if (name === 'NoSuchKey' || name === 'NotFound') {
    return new ModelNotFoundError(`${what} not found`, { cause: error, detail });
  }
  return new RepositoryUnavailableError(`model repository unavailable: ${what}`, { cause: error, detail });
}
