import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { VadOptions } from '../core/http/api-schemas.ts';
import type { LoadedModel } from '../core/model-store/types.ts';
import { createSession, sessionConfigFromEnv } from '../core/session.ts';
import { TASK_DESCRIPTORS } from '../core/tasks/descriptors.ts';
import { AUDIO_MEDIA_TYPES } from '../core/tasks/media-types.ts';
import { readBinaryOrJson } from '../core/tasks/request-body.ts';
import { defineTask, type TaskInput } from '../core/tasks/types.ts';
import { decodeAudio } from './decode-audio.ts';
import { DEFAULT_SEGMENTATION, type SegmentationOptions } from './speech-segments.ts';
import { SileroVad, type VadBatching, type VadStageTimes } from './vad.ts';

/**
 * Options a JSON body may carry beside `"audio"`; each defaults as {@link DEFAULT_SEGMENTATION} says. The
 * schema is the API's (`api-schemas.ts`, which /openapi.json describes); the default it compares with is
 * the task's.
 */
const VadRequestOptions = VadOptions.refine(
  (o) => o.negThreshold === undefined || o.negThreshold <= (o.threshold ?? DEFAULT_SEGMENTATION.threshold),
  {
    message: 'negThreshold must not exceed threshold',
  },
);

/** The parameters a Silero manifest declares: which rates each variant was trained for. */
const SileroParameters = z.object({
  sampleRates: z.record(z.string(), z.array(z.number().int())).optional(),
});

function requestOptions(json: Record<string, unknown> | undefined): Partial<SegmentationOptions> {
  if (!json) return {};
  const { audio: _audio, ...rest } = json;
  const parsed = VadRequestOptions.safeParse(rest);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`);
    throw new InvalidInputError(`invalid options: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** Uploads name their format by extension, whatever Content-Type the object store recorded. */
const AUDIO_EXTENSIONS = /\.(wav|wave|flac|mp3|ogg|oga|opus)$/i;

function bodyOf(input: TaskInput): TaskInput {
  if (input.filename && AUDIO_EXTENSIONS.test(input.filename) && input.mediaType !== 'application/json') {
    return { ...input, mediaType: '' };
  }
  return input;
}

/**
 * A Silero VAD pipeline over a loaded model version, on a session of its own with one intra-op thread:
 * the model runs one small window after another, so more threads only add synchronisation (two threads
 * measured twice as slow per window here). Parallelism comes from batching files and from concurrent
 * requests instead. The store's session still serves the OIP endpoints.
 */
export async function createSileroVad(
  model: LoadedModel,
  config = sessionConfigFromEnv(),
  batching?: VadBatching,
): Promise<SileroVad> {
  const { manifest, variant } = model;
  const file = manifest.variants[variant]?.file;
  const path = file === undefined ? undefined : model.files.get(file);
  // A model that is not Silero fails its load (503), like any broken model.
  if (!path) throw new Error(`model ${manifest.name}@${manifest.version} has no file for ${variant}`);
  // The manifest names the model: a per-model execution provider applies to this session too.
  const session = await createSession(path, { ...config, intraOpThreads: 1 }, manifest);
  const parameters = SileroParameters.safeParse(manifest.parameters ?? {});
  const sampleRates = (parameters.success && parameters.data.sampleRates?.[variant]) || [16000];
  return new SileroVad(session, { sampleRates, batching, maxBatch: manifest.maxBatchSize || undefined });
}

/**
 * `speech/vad`: an audio file in, the stretches of speech out, on Silero VAD v5.
 *
 * @example
 * ```sh
 * curl -s -H 'content-type: audio/wav' --data-binary @call.wav http://127.0.0.1:8080/v1/speech/vad
 * # {"model":"silero-vad@1","duration":12.4,"sampleRate":8000,"segments":[{"start":0.42,"end":3.1,
 * #  "confidence":0.93}],"speechRatio":0.216,"timings":{...}}
 * ```
 */
export const speechVadTask = defineTask(TASK_DESCRIPTORS['speech/vad'], async (model) => {
  const vad = await createSileroVad(model);
  return {
    async run(input) {
      const started = performance.now();
      const { bytes, json } = readBinaryOrJson(bodyOf(input), 'audio', AUDIO_MEDIA_TYPES);
      const options = requestOptions(json);
      const audio = await decodeAudio(bytes);
      const opened = performance.now();
      const times: VadStageTimes = { decode: 0, preprocess: 0, inference: 0, postprocess: 0 };
      let result: Awaited<ReturnType<SileroVad['detect']>>;
      try {
        result = await vad.detect(audio.samples, options, times);
      } finally {
        audio.close();
      }
      const r = (ms: number) => Math.round(ms * 100) / 100;
      return {
        result: {
          duration: result.duration,
          sampleRate: result.sampleRate,
          segments: result.segments,
          speechRatio: result.speechRatio,
        },
        timings: {
          decode: r(opened - started + times.decode),
          preprocess: r(times.preprocess),
          inference: r(times.inference),
          postprocess: r(times.postprocess),
          total: r(performance.now() - started),
        },
        items: 1,
      };
    },
  };
});
