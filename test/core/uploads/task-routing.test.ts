/**
 * Uploads address tasks: `incoming/<modality>/<task>/<file>` goes to that task, `incoming/<modality>/<file>`
 * to the modality's default task, and each result mirrors its key under `results/`. Real s3rver, real
 * models (the shipped spam classifier and an imported encoder), S3 events as AWS documents them in SQS
 * messages, through the same upload handler the Lambda functions and `npm start` run.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsUploadHandler } from '../../../functions/core/adapters/sqs-upload.ts';
import { InferenceService } from '../../../functions/core/inference-service.ts';
import { createModelStore } from '../../../functions/core/model-store/store.ts';
import { UploadProcessor } from '../../../functions/core/uploads/upload-processor.ts';
import { textEmbedTask } from '../../../functions/text/embed-task.ts';
import { textClassifyTask } from '../../../functions/text/task.ts';
import { importModel } from '../../../scripts/import-model.ts';
import { writeBertExport } from '../../support/bert-model.ts';
import { s3Record, sqsMessage } from '../../support/s3-events.ts';
import { spamText, startTextUploads, type TextUploads, UPLOADS_BUCKET } from './text-upload-fixture.ts';

let uploads: TextUploads;
let work: string;
/** A processor serving both text tasks, over the repository with the encoder. */
let both: UploadProcessor;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'inferlet-task-routing-'));
  const repository = join(work, 'repository');
  cpSync(resolve('models/spam-fasttext'), join(repository, 'spam-fasttext'), { recursive: true });
  await writeBertExport(join(work, 'encoder-export'), { head: 'encoder', seed: 9 });
  await importModel([
    '--from',
    join(work, 'encoder-export'),
    '--name',
    'encoder',
    '--repository',
    repository,
  ]);
  uploads = await startTextUploads();
  const service = new InferenceService({
    store: createModelStore({ repository, cacheDir: join(work, 'cache') }),
    tasks: [
      { definition: textClassifyTask, model: { name: 'spam-fasttext' } },
      { definition: textEmbedTask, model: { name: 'encoder' } },
    ],
  });
  both = new UploadProcessor({ service, s3: uploads.proxiedClient, maxObjectBytes: 64 * 1024 });
});

afterAll(async () => {
  await uploads?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Puts `text` at `key` and returns the SQS message AWS would deliver for it. */
async function upload(key: string, text: string) {
  const { ETag } = await uploads.client.send(
    new PutObjectCommand({ Bucket: UPLOADS_BUCKET, Key: key, Body: text, ContentType: 'text/plain' }),
  );
  return sqsMessage({
    Records: [s3Record(UPLOADS_BUCKET, key, { eTag: String(ETag).replaceAll('"', ''), size: text.length })],
  });
}

describe('uploads addressed to tasks', () => {
  it('embeds incoming/text/embed/ and classifies incoming/text/ and incoming/text/classify/, results mirroring each key', async () => {
    const messages = await Promise.all([
      upload('incoming/text/embed/note.txt', 'the meeting moved to thursday'),
      upload('incoming/text/mail.txt', spamText(1)),
      upload('incoming/text/classify/mail.txt', spamText(2)),
    ]);

    const { batchItemFailures } = await createSqsUploadHandler(both, 1)({ Records: messages });

    expect(batchItemFailures).toEqual([]);
    const embedded = await uploads.readJson('results/text/embed/note.txt.json');
    expect(embedded).toMatchObject({ model: 'encoder@1', dimensions: 16 });
    expect(embedded.embeddings).toHaveLength(1);
    for (const key of ['results/text/mail.txt.json', 'results/text/classify/mail.txt.json']) {
      const classified = await uploads.readJson(key);
      expect(classified).toMatchObject({ model: 'spam-fasttext@2', results: [{ label: 'spam' }] });
    }
    expect(await uploads.keys('errors/text/')).toEqual([]);
  });

  it('gives a folder that is not a task name to the default task, as part of the file name', async () => {
    const message = await upload('incoming/text/2026/embed/mail.txt', spamText(3));

    const { batchItemFailures } = await createSqsUploadHandler(both, 1)({ Records: [message] });

    expect(batchItemFailures).toEqual([]);
    expect(await uploads.readJson('results/text/2026/embed/mail.txt.json')).toMatchObject({
      model: 'spam-fasttext@2',
    });
  });

  it('refuses with a 415 record naming the task an upload for a task this function does not serve', async () => {
    // The fixture's processor serves text/classify only, as the text Lambda function does.
    const message = await upload('incoming/text/embed/elsewhere.txt', 'served by another function');

    const { batchItemFailures } = await uploads.handler(1)({ Records: [message] });

    expect(batchItemFailures).toEqual([]);
    const record = await uploads.readJson('errors/text/embed/elsewhere.txt.json');
    expect(record).toMatchObject({ status: 415 });
    expect(record.error).toBe(
      'task text/embed is not served here; this function serves text/classify (incoming/text/)',
    );
    expect(await uploads.keys('results/text/embed/elsewhere')).toEqual([]);
  });

  it('refuses an upload under a modality no task has, listing where uploads go', async () => {
    const message = await upload('incoming/video/clip.txt', 'no such modality');

    await createSqsUploadHandler(both, 1)({ Records: [message] });

    expect(await uploads.readJson('errors/video/clip.txt.json')).toMatchObject({
      status: 415,
      error:
        'no task takes uploads under incoming/video/; this function serves text/classify (incoming/text/), ' +
        'text/embed (incoming/text/embed/)',
    });
  });
});
