/**
 * Uploads a local model repository to S3, in the same layout, so the model store can serve it from there.
 * `scripts/publish-models.ts` is its command; `npm start` publishes `models/` to the embedded S3 with it.
 *
 * Every file is verified against its manifest before it leaves the disk and is uploaded with its sha256
 * (as metadata, and as the checksum S3 verifies on receipt). Manifests go last, so a version whose files
 * are still uploading is not listed. Objects that already exist with the same size and sha256 are skipped.
 *
 * A published version is immutable: functions cache `<model>/<version>/` on disk and a rollback must find
 * the bytes it ran before. So when the bucket already holds a file of a version with other bytes, nothing
 * is uploaded and {@link ModelVersionConflictError} names each such file: publish the change as a new
 * version instead.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalRepository, parseS3Location } from './repository.ts';
import { sha256File } from './sha256-file.ts';
import { compareVersionRefs } from './versions.ts';

/** Options of {@link publishRepository}. */
export interface PublishOptions {
  /** The local repository folder. */
  readonly from: string;
  /** `s3://bucket/prefix`. */
  readonly to: string;
  /** Default: a client configured from the environment (`AWS_ENDPOINT_URL_S3` too). */
  readonly client?: S3Client;
  /** Receives one line per object; default: nothing. */
  readonly log?: (line: string) => void;
  /**
   * Replace published files whose bytes differ instead of refusing. Only for a scratch bucket that nothing
   * serves from but this machine, e.g. `npm start`'s embedded S3 after a local rebuild.
   * @default false
   */
  readonly overwrite?: boolean;
}

/** The S3 URLs of what was uploaded and of what was already there, in upload order. */
export interface PublishReport {
  readonly uploaded: string[];
  readonly skipped: string[];
}

/** A file of a published version that the bucket holds with other bytes than the local repository. */
export interface VersionConflict {
  /** `s3://bucket/key`. */
  readonly url: string;
  /** `name/version` of the model version. */
  readonly version: string;
  readonly localSha256: string;
  readonly publishedSha256: string;
}

/**
 * The bucket holds a published version whose files differ from the local ones; nothing was uploaded. The
 * message lists each file and the version to publish instead.
 */
export class ModelVersionConflictError extends Error {
  override readonly name = 'ModelVersionConflictError';
  constructor(readonly conflicts: readonly VersionConflict[]) {
    const versions = [...new Set(conflicts.map((c) => c.version))];
    super(
      `refusing to overwrite published model versions ${versions.join(', ')}: versions are immutable, and the ` +
        `bucket holds other bytes for\n${conflicts
          .map((c) => `  ${c.url} (published sha256 ${c.publishedSha256}, local ${c.localSha256})`)
          .join(
            '\n',
          )}\npublish each changed model as a new version (a number above every published one) instead`,
    );
  }
}

interface Upload {
  /** `name/version`. */
  readonly version: string;
  readonly key: string;
  readonly local: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Publishes every model version of a local repository to an S3 prefix.
 *
 * @example
 * ```ts
 * const report = await publishRepository({ from: 'models', to: 's3://my-models/prod', log: console.log });
 * ```
 */
export async function publishRepository(options: PublishOptions): Promise<PublishReport> {
  const { bucket, prefix } = parseS3Location(options.to);
  const client = options.client ?? new S3Client({ followRegionRedirects: true });
  const log = options.log ?? (() => {});
  const local = new LocalRepository(options.from);

  const files: Upload[] = [];
  const manifests: Upload[] = [];
  const refs = (await local.listVersions()).sort(compareVersionRefs);
  for (const { name, version } of refs) {
    const manifest = await local.readManifest(name, version);
    for (const file of manifest.files) {
      const path = local.localPath(name, version, file.path);
      const sha256 = await sha256File(path);
      if (sha256 !== file.sha256) {
        throw new Error(`refusing to publish ${path}: sha256 is ${sha256}, its manifest says ${file.sha256}`);
      }
      files.push({
        version: `${name}/${version}`,
        key: `${prefix}${name}/${version}/${file.path}`,
        local: path,
        bytes: file.bytes,
        sha256,
      });
    }
    const manifestPath = join(local.location, name, version, 'manifest.json');
    const text = await readFile(manifestPath);
    manifests.push({
      version: `${name}/${version}`,
      key: `${prefix}${name}/${version}/manifest.json`,
      local: manifestPath,
      bytes: text.length,
      sha256: createHash('sha256').update(text).digest('hex'),
    });
  }

  const report: PublishReport = { uploaded: [], skipped: [] };
  const uploads = [...files, ...manifests];
  // Everything is compared before anything is written, so a refusal leaves the bucket as it was.
  const published = await Promise.all(uploads.map((upload) => publishedSha256(client, bucket, upload)));
  const conflicts = uploads.flatMap((upload, i) => {
    const sha256 = published[i];
    return sha256 && sha256 !== upload.sha256
      ? [
          {
            url: `s3://${bucket}/${upload.key}`,
            version: upload.version,
            localSha256: upload.sha256,
            publishedSha256: sha256,
          },
        ]
      : [];
  });
  if (conflicts.length > 0 && !options.overwrite) throw new ModelVersionConflictError(conflicts);
  for (const [i, upload] of uploads.entries()) {
    const url = `s3://${bucket}/${upload.key}`;
    if (published[i] === upload.sha256) {
      report.skipped.push(url);
      log(`skip    ${url} (same size and sha256)`);
      continue;
    }
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: upload.key,
        Body: createReadStream(upload.local),
        ContentLength: upload.bytes,
        // Given, the SDK sends it as a header rather than an aws-chunked trailer, and S3 checks it.
        ChecksumSHA256: Buffer.from(upload.sha256, 'hex').toString('base64'),
        Metadata: { sha256: upload.sha256 },
      }),
    );
    report.uploaded.push(url);
    log(`upload  ${url} (${upload.bytes} bytes)`);
  }
  log(
    `published ${refs.length} model versions: ${report.uploaded.length} uploaded, ${report.skipped.length} skipped`,
  );
  return report;
}

/**
 * The sha256 of the object the bucket holds at `upload.key`, or `undefined` when there is none: from its
 * `sha256` metadata when this publisher wrote it, else by reading it (a `cdk deploy` publication writes none).
 */
async function publishedSha256(
  client: S3Client,
  bucket: string,
  upload: Upload,
): Promise<string | undefined> {
  let head: { ContentLength?: number; Metadata?: Record<string, string> };
  try {
    head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: upload.key }));
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return undefined;
    throw error;
  }
  const recorded = head.Metadata?.sha256;
  if (recorded)
    return head.ContentLength === upload.bytes ? recorded : `${recorded} (${head.ContentLength} bytes)`;
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: upload.key }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}
