/** Lambda entry of the image function for uploads: SQS messages of S3 events under `incoming/image/`. */
import { createTaskUploadHandler } from '../core/adapters/sqs-upload.ts';
import { imageOcrTask } from './task.ts';

export const handler = createTaskUploadHandler(imageOcrTask);
