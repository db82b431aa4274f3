/** Lambda entry of the image function for uploads: SQS messages of S3 events under `incoming/image/`. */
import { createTaskUploadHandler } from '../core/adapters/sqs-upload.ts';
import { loadSettings } from '../core/config/env.ts';
import { imageOcrTask } from './task.ts';

// Every setting is checked at init: a bad one fails the Lambda init, naming the variable, so no event is
// ever taken (or acknowledged) under a wrong default.
loadSettings();

export const handler = createTaskUploadHandler(imageOcrTask);
