/**
 * Child process of `npm run bench:speech`: finds speech in a long WAV file streamed from disk and prints
 * one JSON line with its peak resident memory (VmHWM), so the parent measures a process that did nothing
 * else. Bundled with esbuild and run as deployed.
 *
 *   node speech-hour.mjs <file.wav> <repository> <variant>
 */
import { readFileSync } from 'node:fs';
import { createModelStore } from '../functions/core/model-store/store.ts';
import { openFileByteSource } from '../functions/speech/byte-source.ts';
import { decodeAudio } from '../functions/speech/decode-audio.ts';
import { createSileroVad } from '../functions/speech/task.ts';

const [path, repository, variant] = process.argv.slice(2);
if (!path || !repository || !variant) throw new Error('usage: speech-hour <file.wav> <repository> <variant>');

function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const mib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rssMiB: mib('VmRSS'), peakMiB: mib('VmHWM') };
}

const store = createModelStore({ repository });
const vad = await createSileroVad(await store.load('silero-vad', '1', variant));
const loaded = memory();
const file = openFileByteSource(path);
try {
  const t0 = performance.now();
  const result = await vad.detect((await decodeAudio(file)).samples);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      variant,
      duration: result.duration,
      seconds,
      rtf: result.duration / seconds,
      segments: result.segments.length,
      speechRatio: result.speechRatio,
      loaded,
      done: memory(),
    }),
  );
} finally {
  file.close();
}
