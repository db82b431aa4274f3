/**
 * Uploads a local model repository to S3, in the same layout, so the model store can serve it from there.
 * `scripts/publish-models.ts` is its command; `npm start` publishes `models/` to the embedded S3 with it.
 *
 * Every file is verified against its manifest before it leaves the disk and is uploaded with its sha256
 * (as metadata, and as the checksum S3 verifies on receipt). Manifests go last, so a version whose files
 * are still uploading is not listed. Objects that already exist with the same size and sha256 are skipped.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalRepository, parseS3Location } from './repository.ts';
import { sha256File } from './write-model.ts';

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
}

/** The S3 URLs of what was uploaded and of what was already there, in upload order. */
export interface PublishReport {
  readonly uploaded: string[];
  readonly skipped: string[];
}

interface Upload {
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
  const refs = (await local.listVersions()).sort((a, b) =>
    `${a.name}/${a.version}`.localeCompare(`${b.name}/${b.version}`),
  );
  for (const { name, version } of refs) {
    const manifest = await local.readManifest(name, version);
    for (const file of manifest.files) {
      const path = local.localPath(name, version, file.path);
      const sha256 = await sha256File(path);
      if (sha256 !== file.sha256) {
        throw new Error(`refusing to publish ${path}: sha256 is ${sha256}, its manifest says ${file.sha256}`);
      }
      files.push({ key: `${prefix}${name}/${version}/${file.path}`, local: path, bytes: file.bytes, sha256 });
    }
    const manifestPath = join(local.location, name, version, 'manifest.json');
    const text = await readFile(manifestPath);
    manifests.push({
      key: `${prefix}${name}/${version}/manifest.json`,
      local: manifestPath,
      bytes: text.length,
      sha256: createHash('sha256').update(text).digest('hex'),
    });
  }

  const report: PublishReport = { uploaded: [], skipped: [] };
  for (const upload of [...files, ...manifests]) {
    const url = `s3://${bucket}/${upload.key}`;
    if (await alreadyThere(client, bucket, upload)) {
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

async function alreadyThere(client: S3Client, bucket: string, upload: Upload): Promise<boolean> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: upload.key }));
    return head.ContentLength === upload.bytes && head.Metadata?.sha256 === upload.sha256;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return false;
    throw error;
  }
}
