/** Lambda entry of the text function: API Gateway HTTP API / Function URL events (payload format 2.0). */
import { createTaskHttpHandler } from '../core/adapters/lambda-http.ts';
import { textClassifyTask } from './task.ts';

export const handler = createTaskHttpHandler(textClassifyTask);
