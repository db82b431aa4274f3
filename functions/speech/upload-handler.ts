/** Lambda entry of the speech function for uploads: SQS messages of S3 events under `incoming/speech/`. */
import { createTaskUploadHandler } from '../core/adapters/sqs-upload.ts';
import { speechVadTask } from './task.ts';

export const handler = createTaskUploadHandler(speechVadTask);
