/** Lambda entry of the text/embed function: API Gateway HTTP API / Function URL events (payload format 2.0). */
import { createTaskHttpHandler } from '../core/adapters/lambda-http.ts';
import { loadSettings } from '../core/config/env.ts';
import { textEmbedTask } from './embed-task.ts';

// Every setting is checked at init: a bad one fails the Lambda init, naming the variable, so no event is
// ever taken (or acknowledged) under a wrong default.
loadSettings();

export const handler = createTaskHttpHandler(textEmbedTask);
