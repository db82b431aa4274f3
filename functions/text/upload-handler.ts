/**
 * Lambda entry of the text function for uploads: SQS messages of S3 events under `incoming/text/` (but
 * `incoming/text/embed/`, which is text/embed's).
 */
import { createTaskUploadHandler } from '../core/adapters/sqs-upload.ts';
import { loadSettings } from '../core/config/env.ts';
import { textClassifyTask } from './task.ts';

// Every setting is checked at init: a bad one fails the Lambda init, naming the variable, so no event is
// ever taken (or acknowledged) under a wrong default.
loadSettings();

export const handler = createTaskUploadHandler(textClassifyTask);
