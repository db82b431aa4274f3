import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import wavefile from 'wavefile';

const run = promisify(execFile);

/** Generated files live here, named by what made them, so reruns reuse them. */
const CACHE = join(tmpdir(), 'inferlet-speech-cache');

/** espeak-ng writes 22050 Hz mono 16-bit WAV. */
export const ESPEAK_RATE = 22050;

/** Below this absolute amplitude a sample counts as espeak's own leading or trailing silence. */
const SILENCE_LEVEL = 0.003;

async function cached(
  key: string,
  extension: string,
  make: (path: string) => Promise<void>,
): Promise<string> {
  await mkdir(CACHE, { recursive: true });
  const path = join(CACHE, `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.${extension}`);
  if (existsSync(path)) return path;
  const temp = `${path}.${process.pid}.tmp`;
  await make(temp);
  await rename(temp, path);
  return path;
}

/** Reads a WAV file with wavefile (not the code under test) as mono float samples. */
export function readWavSamples(bytes: Uint8Array): { samples: Float32Array; sampleRate: number } {
  const wav = new wavefile.WaveFile(bytes);
  wav.toBitDepth('32f');
  const fmt = wav.fmt as { sampleRate: number; numChannels: number };
  const raw = wav.getSamples(true, Float32Array) as unknown as Float32Array;
  const channels = fmt.numChannels;
  const samples = new Float32Array(raw.length / channels);
  for (let i = 0; i < samples.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += raw[i * channels + c] as number;
    samples[i] = sum / channels;
  }
  return { samples, sampleRate: fmt.sampleRate };
}

/** A 32-bit float mono WAV file of `samples`. */
export function floatWav(samples: Float32Array, sampleRate: number): Uint8Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, sampleRate, '32f', samples);
  return wav.toBuffer();
}

/** A sentence spoken by espeak-ng at 22050 Hz, cut to where its samples are not silent. */
export async function speak(text: string): Promise<Float32Array> {
  const path = await cached(`espeak-ng\n${text}`, 'wav', async (out) => {
    await run('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', out, text]);
  });
  const { samples, sampleRate } = readWavSamples(await readFile(path));
  if (sampleRate !== ESPEAK_RATE) throw new Error(`espeak-ng wrote ${sampleRate} Hz`);
  let first = 0;
  while (first < samples.length && Math.abs(samples[first] as number) < SILENCE_LEVEL) first++;
  let last = samples.length - 1;
  while (last > first && Math.abs(samples[last] as number) < SILENCE_LEVEL) last--;
  return samples.slice(first, last + 1);
}

/** Silence of some seconds, or a sentence to speak. */
export type Part = { silence: number } | { say: string };

/** A composed recording and where its speech truly is. */
export interface SpokenAudio {
  readonly samples: Float32Array;
  readonly sampleRate: number;
  /** Start and end, in seconds, of each spoken sentence as placed. */
  readonly truth: { start: number; end: number }[];
}

/** A reproducible generator of Gaussian noise (mulberry32 and Box-Muller). */
export function gaussianNoise(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * Places spoken sentences between silences at 22050 Hz, optionally over white noise of the given RMS.
 *
 * @example
 * ```ts
 * const audio = await compose([{ silence: 1 }, { say: 'Hello there.' }, { silence: 1.5 }]);
 * ```
 */
export async function compose(
  parts: readonly Part[],
  options: { noiseRms?: number } = {},
): Promise<SpokenAudio> {
  const pieces: Float32Array[] = [];
  const truth: { start: number; end: number }[] = [];
  let length = 0;
  for (const part of parts) {
    const piece =
      'silence' in part ? new Float32Array(Math.round(part.silence * ESPEAK_RATE)) : await speak(part.say);
    if ('say' in part)
      truth.push({ start: length / ESPEAK_RATE, end: (length + piece.length) / ESPEAK_RATE });
    pieces.push(piece);
    length += piece.length;
  }
  const samples = new Float32Array(length);
  let at = 0;
  for (const piece of pieces) {
    samples.set(piece, at);
    at += piece.length;
  }
  if (options.noiseRms) {
    const noise = gaussianNoise(12345);
    for (let i = 0; i < samples.length; i++) samples[i] = (samples[i] as number) + options.noiseRms * noise();
  }
  return { samples, sampleRate: ESPEAK_RATE, truth };
}

/**
 * Converts float mono audio with sox into a WAV file of another rate, sample format or channel count
 * (e.g. `['-r', '8000', '-b', '16']`, `['-e', 'floating-point', '-b', '32', '-c', '2']`), cached on disk.
 */
export async function soxWav(audio: SpokenAudio, soxArgs: readonly string[]): Promise<Uint8Array> {
  const content = createHash('sha256').update(audio.samples).digest('hex');
  const path = await cached(
    `sox ${soxArgs.join(' ')}\n${audio.sampleRate}\n${content}`,
    'wav',
    async (out) => {
      const input = `${out}.in.wav`;
      await writeFile(input, floatWav(audio.samples, audio.sampleRate));
      // -D: no dither, so formats differ only by their quantisation.
      await run('sox', ['-D', input, ...soxArgs, '-t', 'wav', out]);
      await rm(input);
    },
  );
  return readFile(path);
}

/** Compressed formats the test machine can encode: FLAC and Ogg Vorbis with sox, MP3 with lame, Opus with opusenc. */
export type CompressedTestFormat = 'flac' | 'vorbis' | 'mp3' | 'opus';

/** Encodes the audio, first converted to 16-bit WAV at `rate`, into a compressed format (cached on disk). */
export async function encodeAudio(
  audio: SpokenAudio,
  format: CompressedTestFormat,
  rate: number,
): Promise<Uint8Array> {
  const wav = await soxWav(audio, ['-r', String(rate), '-b', '16']);
  const key = `${format}\n${createHash('sha256').update(wav).digest('hex')}`;
  const path = await cached(key, format, async (out) => {
    const input = `${out}.in.wav`;
    await writeFile(input, wav);
    if (format === 'flac') await run('sox', [input, '-t', 'flac', out]);
    else if (format === 'vorbis') await run('sox', [input, '-t', 'vorbis', out]);
    else if (format === 'mp3') await run('lame', ['--quiet', input, out]);
    else await run('opusenc', ['--quiet', input, out]);
    await rm(input);
  });
  return readFile(path);
}
