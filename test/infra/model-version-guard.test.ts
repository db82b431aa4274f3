import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceCreateEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRepository } from '../../functions/core/model-store/publish.ts';
import { localFiles } from '../../infra/constructs/model-publication.ts';
import { findConflicts, handler } from '../../infra/handlers/model-version-guard.ts';
import { writeTinyRepository } from '../core/model-store/tiny-repository.ts';
import { type S3rverHandle, startS3rver } from '../support/s3rver.ts';

const BUCKET = 'models';

let s3: S3rverHandle;
let work: string;
let local: string;
let client: S3Client;
let cloudFormation: Server;
let responseUrl: string;
const responses: Record<string, unknown>[] = [];

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET], setEnv: true });
  client = new S3Client({});
  work = await mkdtemp(join(tmpdir(), 'model-version-guard-'));
  local = join(work, 'repository');
  await writeTinyRepository(local);
  // Stands in for the presigned S3 URL CloudFormation waits on for the custom resource's answer.
  cloudFormation = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      responses.push({ method: request.method, ...(JSON.parse(body) as Record<string, unknown>) });
      response.end();
    });
  });
  await new Promise<void>((ready) => cloudFormation.listen(0, '127.0.0.1', ready));
  responseUrl = `http://127.0.0.1:${(cloudFormation.address() as AddressInfo).port}/response`;
});

afterAll(async () => {
  await s3?.stop();
  await new Promise((closed) => cloudFormation?.close(closed));
  await rm(work, { recursive: true, force: true });
});

function createEvent(prefix: string, files: string[]): CloudFormationCustomResourceCreateEvent {
  return {
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:guard',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Inferlet/1',
    RequestId: `request-${prefix}`,
    LogicalResourceId: 'ModelPublicationGuard',
    ResourceType: 'Custom::ModelVersionGuard',
    ResourceProperties: { ServiceToken: 'guard', Bucket: BUCKET, Files: files },
  };
}

const context = { awsRequestId: 'invocation-1' } as Context;

describe('the model version guard of cdk deploy', () => {
  it('lists every file of the local repository with the sha256 its manifest gives it, and each manifest', async () => {
    const files = localFiles(local, 'prod/');
    const manifest = JSON.parse(await readFile(join(local, 'tiny-cls', '1', 'manifest.json'), 'utf8')) as {
      files: { path: string; sha256: string }[];
    };

    expect(files).toHaveLength(9);
    for (const file of manifest.files) expect(files).toContain(`prod/tiny-cls/1/${file.path} ${file.sha256}`);
    expect(files).toContainEqual(expect.stringMatching(/^prod\/tiny-cls\/1\/manifest\.json [0-9a-f]{64}$/));
  });

  it('finds no conflict in a first publication, nor where the bucket holds the same bytes', async () => {
    const files = localFiles(local, 'same/');
    const before = await findConflicts(client, BUCKET, files);
    await publishRepository({ from: local, to: `s3://${BUCKET}/same/`, client });
    // A copy without sha256 metadata, as an earlier cdk deploy writes it, is read and hashed.
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'same/tiny-cls/1/labels.txt', Body: '0\n180\n' }),
    );

    expect(before).toEqual([]);
    expect(await findConflicts(client, BUCKET, files)).toEqual([]);
  });

  it('finds each published file whose bytes differ, with or without sha256 metadata', async () => {
    await publishRepository({ from: local, to: `s3://${BUCKET}/changed/`, client });
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'changed/tiny-cls/1/labels.txt', Body: 'other\n' }),
    );
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'changed/tiny-cls/2/model.onnx',
        Body: 'rebuilt',
        Metadata: { sha256: 'f'.repeat(64) },
      }),
    );

    const conflicts = await findConflicts(client, BUCKET, localFiles(local, 'changed/'));

    expect(conflicts.map((c) => c.key).sort()).toEqual([
      'changed/tiny-cls/1/labels.txt',
      'changed/tiny-cls/2/model.onnx',
    ]);
    expect(conflicts.find((c) => c.key.endsWith('model.onnx'))?.publishedSha256).toBe('f'.repeat(64));
  });

  it('answers CloudFormation FAILED, naming the file, when a deploy would change a published version', async () => {
    const rebuilt = join(work, 'rebuilt');
    await writeTinyRepository(rebuilt);
    await publishRepository({ from: rebuilt, to: `s3://${BUCKET}/deployed/`, client });
    // The local repository after a rebuild that changed labels.txt of tiny-cls/1 in place.
    const files = localFiles(rebuilt, 'deployed/').map((line) =>
      line.startsWith('deployed/tiny-cls/1/labels.txt ')
        ? `deployed/tiny-cls/1/labels.txt ${'0'.repeat(64)}`
        : line,
    );

    await handler(createEvent('refused', files), context);
    await handler(createEvent('accepted', localFiles(local, 'fresh/')), context);

    expect(responses.find((r) => r.RequestId === 'request-refused')).toMatchObject({
      method: 'PUT',
      Status: 'FAILED',
      Reason: expect.stringContaining(`s3://${BUCKET}/deployed/tiny-cls/1/labels.txt`),
      LogicalResourceId: 'ModelPublicationGuard',
      PhysicalResourceId: 'model-version-guard-invocation-1',
    });
    expect(responses.find((r) => r.RequestId === 'request-accepted')).toMatchObject({ Status: 'SUCCESS' });
  });
});
