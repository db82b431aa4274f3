/**
 * What the OpenAPI document (`openapi.ts`) shows beside the schemas: each task's summary, schema ids and
 * request and answer examples, and the error answers with a typical message each. Examples are small real
 * inputs (an 8×8 PNG, a silent WAV) that the served models accept as they are.
 */

/** A JSON object of the OpenAPI document. */
type Json = Record<string, unknown>;

/** A WAV of `samples` silent 16-bit mono samples at `rate`: a small example that the VAD accepts. */
function silentWav(samples: number, rate: number): string {
  const data = samples * 2;
  const wav = Buffer.alloc(44 + data);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + data, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(data, 40);
  return wav.toString('base64');
}

/** An 8×8 white PNG. */
const WHITE_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAD0lEQVQImWP4jwMwDC0JALoev0GybL49AAAAAElFTkSuQmCC';

const TIMINGS = { decode: 1.2, preprocess: 3.4, inference: 41.9, postprocess: 2.1, total: 49.1 };

/**
 * Per task: a summary, the ids of its JSON request and answer schemas (components of `api-schemas.ts`),
 * and an example of each.
 */
export const TASK_DOCS: Readonly<
  Record<string, { summary: string; request: string; result: string; examples: Json }>
> = {
  'image/ocr': {
    summary: 'Read the lines of text in an image',
    request: 'OcrJsonRequest',
    result: 'OcrResult',
    examples: {
      request: { image: `data:image/png;base64,${WHITE_PNG}` },
      result: {
        model: 'ppocr-v4@3',
        width: 640,
        height: 200,
        lines: [
          {
            text: 'invoice number 4821',
            confidence: 0.98,
            box: [
              [22, 30],
              [331, 30],
              [331, 68],
              [22, 68],
            ],
          },
        ],
        text: 'invoice number 4821',
        timings: TIMINGS,
      },
    },
  },
  'text/classify': {
    summary: 'Classify texts (spam or ham), optionally explained token by token',
    request: 'TextClassifyJsonRequest',
    result: 'TextClassifyResult',
    examples: {
      request: { text: 'WIN a FREE cruise! Reply now to claim your prize', explain: 5 },
      result: {
        model: 'spam-fasttext@2',
        results: [
          {
            label: 'spam',
            score: 0.97,
            scores: { ham: 0.03, spam: 0.97 },
            explanation: {
              against: 'ham',
              logitDifference: 3.48,
              bias: -0.41,
              tokens: [
                { token: 'free', contribution: 1.62 },
                { token: 'prize', contribution: 1.1 },
              ],
              rest: 1.17,
            },
          },
        ],
        timings: TIMINGS,
      },
    },
  },
  'text/embed': {
    summary: 'Embed texts as vectors with an imported encoder (mean pooling and L2 norm by default)',
    request: 'TextEmbedJsonRequest',
    result: 'TextEmbedResult',
    examples: {
      request: { texts: ['The invoice is attached.', 'Lunch on Friday?'] },
      result: {
        model: 'text-embedding@1',
        embeddings: [
          [0.12, -0.48, 0.87],
          [0.66, 0.31, -0.68],
        ],
        dimensions: 3,
        timings: TIMINGS,
      },
    },
  },
  'speech/vad': {
    summary: 'Find the stretches of speech in a recording',
    request: 'VadJsonRequest',
    result: 'VadResult',
    examples: {
      request: { audio: silentWav(800, 8000), threshold: 0.5 },
      result: {
        model: 'silero-vad@1',
        duration: 12.4,
        sampleRate: 16000,
        segments: [{ start: 0.42, end: 3.1, confidence: 0.93 }],
        speechRatio: 0.216,
        timings: TIMINGS,
      },
    },
  },
};

/** The error answers by status, with a typical message each. */
export const ERROR_DOCS: Readonly<Record<string, { description: string; example: string }>> = {
  '400': { description: 'The request is malformed', example: 'request body is not valid JSON' },
  '404': { description: 'No such route, model or version', example: 'model "ppocr-v5" not found' },
  '413': {
    description: 'The body, or what it asks for, is over a limit',
    example: 'request body is larger than the limit of 6291456 bytes',
  },
  '415': {
    description: 'The media type (or a Content-Encoding) is not accepted',
    example: 'unsupported media type image/gif; send image/png, image/jpeg, image/webp, application/json',
  },
  '422': {
    description: 'The body is well-formed for its type but does not decode',
    example: 'the image is truncated',
  },
  '500': { description: 'An internal error (logged; the answer says no more)', example: 'internal error' },
  '503': {
    description: 'The models are loading, or failed to load',
    example: 'model ppocr-v4@3 is not ready',
  },
};
