/** Lambda entry of the text function for uploads: SQS messages of S3 events under `incoming/text/`. */
import { createTaskUploadHandler } from '../core/adapters/sqs-upload.ts';
import { textClassifyTask } from './task.ts';

export const handler = createTaskUploadHandler(textClassifyTask);
