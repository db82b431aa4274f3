/** Lambda entry of the image function: API Gateway HTTP API / Function URL events (payload format 2.0). */
import { createTaskHttpHandler } from '../core/adapters/lambda-http.ts';
import { imageOcrTask } from './task.ts';

export const handler = createTaskHttpHandler(imageOcrTask);
