/**
 * Spoken test audio from committed fixtures: sentences recorded once with espeak-ng
 * (`test/fixtures/speech/`, made by `scripts/fixtures/make-speech-fixtures.ts`), composed between silences
 * and converted to any WAV layout in JavaScript, so the tests need no program outside Node.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import wavefile from 'wavefile';
import { wavBytes } from './wav-bytes.ts';

/** The committed speech fixtures. */
export const SPEECH_FIXTURES = fileURLToPath(new URL('../fixtures/speech/', import.meta.url));

/** How the fixtures are remade when a sentence or an encoded file is missing. */
const REMAKE =
  'add it to scripts/fixtures/make-speech-fixtures.ts and run it (see test/fixtures/speech/README.md)';

/** espeak-ng writes 22050 Hz mono 16-bit WAV; the sentence fixtures are its files as written. */
export const ESPEAK_RATE = 22050;

/** Below this absolute amplitude a sample counts as espeak's own leading or trailing silence. */
const SILENCE_LEVEL = 0.003;

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

/** The file name (without extension) of a sentence's recording: its words in lower case, joined by dashes. */
export function sentenceSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * The samples of a sentence's recording: `<slug>.wav` for the tests' sentences (read with wavefile), or
 * `<slug>.flac` for the benchmark's other sentences (lossless at half the size).
 */
async function recording(text: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  const base = `${SPEECH_FIXTURES}sentences/${sentenceSlug(text)}`;
  const wav = await readFile(`${base}.wav`).catch(() => undefined);
  if (wav) return readWavSamples(wav);
  const flac = await readFile(`${base}.flac`).catch(() => undefined);
  if (!flac) throw new Error(`no recording of "${text}" in ${SPEECH_FIXTURES}sentences: ${REMAKE}`);
  const decoder = new FLACDecoder();
  await decoder.ready;
  try {
    const { channelData, sampleRate } = await decoder.decodeFile(flac);
    return { samples: channelData[0] as Float32Array, sampleRate };
  } finally {
    decoder.free();
  }
}

/** A sentence spoken by espeak-ng at 22050 Hz, cut to where its samples are not silent. */
export async function speak(text: string): Promise<Float32Array> {
  const { samples, sampleRate } = await recording(text);
  if (sampleRate !== ESPEAK_RATE) throw new Error(`the recording of "${text}" is at ${sampleRate} Hz`);
  let first = 0;
  while (first < samples.length && Math.abs(samples[first] as number) < SILENCE_LEVEL) first++;
  let last = samples.length - 1;
  while (last > first && Math.abs(samples[last] as number) < SILENCE_LEVEL) last--;
  return samples.slice(first, last + 1);
}

/** Silence of some seconds, or a sentence to speak. */
export type Part = { readonly silence: number } | { readonly say: string };

/** Recordings the tests share, by name; the encoded fixtures are made from these. */
export const SCRIPTS = {
  /** Three sentences between silences of 1.2, 1.5, 2 and 1 seconds (the VAD tests). */
  'three-sentences': [
    { silence: 1.2 },
    { say: 'The weather today is warm and sunny.' },
    { silence: 1.5 },
    { say: 'Please send the report to the office before noon.' },
    { silence: 2 },
    { say: 'Our train leaves from platform nine at seven thirty.' },
    { silence: 1 },
  ],
  /** Two sentences of a meeting 1.5 s apart (the HTTP endpoint tests). */
  meeting: [
    { silence: 1 },
    { say: 'Good morning and welcome to the meeting.' },
    { silence: 1.5 },
    { say: 'Let us begin with the first item.' },
    { silence: 0.8 },
  ],
  /** One short sentence (the Lambda handler tests). */
  'call-back': [{ silence: 0.8 }, { say: 'Call me back after lunch.' }, { silence: 0.8 }],
} as const satisfies Record<string, readonly Part[]>;

/** The name of a shared recording. */
export type ScriptName = keyof typeof SCRIPTS;

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

/** A WAV layout to convert test audio into. */
export interface WavFormat {
  /** Sample rate in Hz. */
  readonly rate: number;
  /** `pcm` (8-bit unsigned, 16/24/32-bit signed), `float` (32/64-bit), or G.711 `mu-law` / `a-law`. Default `pcm`. */
  readonly encoding?: 'pcm' | 'float' | 'mu-law' | 'a-law';
  /** Bits per sample of `pcm` (default 16) or `float` (default 32); G.711 is always 8. */
  readonly bits?: 8 | 16 | 24 | 32 | 64;
  /** The mono signal is copied to each channel. Default 1. */
  readonly channels?: number;
}

const WAVE_FORMAT = { pcm: 1, float: 3, 'a-law': 6, 'mu-law': 7 } as const;

/** Integer PCM rounded to nearest and clipped, as sox writes it without dither. */
function quantise(x: number, bits: number): number {
  const max = 2 ** (bits - 1);
  return Math.max(-max, Math.min(max - 1, Math.round(x * max)));
}

/**
 * Converts test audio into a WAV file of another rate, sample format and channel count, in JavaScript and
 * independently of the code under test: a band-limited resampler of its own, then rounding to the sample
 * format (no dither, so formats differ only by their quantisation). Layouts sox would write as
 * WAVE_FORMAT_EXTENSIBLE (PCM over 16 bits, more than two channels) are written so here too.
 *
 * @example
 * ```ts
 * const wav = wavOf(await compose(SCRIPTS.meeting), { rate: 8000 });
 * ```
 */
export function wavOf(audio: SpokenAudio, format: WavFormat): Uint8Array {
  const encoding = format.encoding ?? 'pcm';
  const channels = format.channels ?? 1;
  const bits =
    encoding === 'mu-law' || encoding === 'a-law' ? 8 : (format.bits ?? (encoding === 'float' ? 32 : 16));
  const samples = resampled(audio, format.rate);
  const frames = samples.length;
  let data: Uint8Array;
  if (encoding === 'mu-law' || encoding === 'a-law') {
    // wavefile's G.711 encoders take 16-bit PCM, as sox's do.
    const wav = new wavefile.WaveFile();
    wav.fromScratch(
      1,
      format.rate,
      '16',
      Int16Array.from(samples, (x) => quantise(x, 16)),
    );
    if (encoding === 'mu-law') wav.toMuLaw();
    else wav.toALaw();
    const mono = (wav.data as { samples: Uint8Array }).samples;
    data = new Uint8Array(frames * channels);
    for (let i = 0; i < frames; i++) data.fill(mono[i] as number, i * channels, (i + 1) * channels);
  } else {
    const bytes = bits / 8;
    data = new Uint8Array(frames * channels * bytes);
    const view = new DataView(data.buffer);
    for (let i = 0; i < frames; i++) {
      const x = samples[i] as number;
      for (let c = 0; c < channels; c++) {
        const p = (i * channels + c) * bytes;
        if (encoding === 'float' && bits === 32) view.setFloat32(p, x, true);
        else if (encoding === 'float') view.setFloat64(p, x, true);
        else if (bits === 8) view.setUint8(p, quantise(x, 8) + 128);
        else if (bits === 16) view.setInt16(p, quantise(x, 16), true);
        else if (bits === 24) {
          const s = quantise(x, 24);
          view.setUint16(p, s & 0xffff, true);
          view.setInt8(p + 2, s >> 16);
        } else view.setInt32(p, quantise(x, 32), true);
      }
    }
  }
  const tag = WAVE_FORMAT[encoding];
  const extensible = channels > 2 || (encoding === 'pcm' && bits > 16);
  return wavBytes({
    formatTag: extensible ? 0xfffe : tag,
    subFormat: tag,
    channels,
    sampleRate: format.rate,
    bitsPerSample: bits,
    data,
  });
}

/** Zero crossings of the interpolation kernel on each side, and table points between two of them. */
const ZERO_CROSSINGS = 16;
const TABLE_STEPS = 512;

/** sinc(u) under a Blackman window reaching zero at ±ZERO_CROSSINGS, tabulated for u ≥ 0. */
const KERNEL = Float64Array.from({ length: ZERO_CROSSINGS * TABLE_STEPS + 2 }, (_, i) => {
  const u = i / TABLE_STEPS;
  if (u >= ZERO_CROSSINGS) return 0;
  const sinc = u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
  const w = 0.5 + u / (2 * ZERO_CROSSINGS); // 0.5 at the centre, 1 at the edge
  return sinc * (0.42 - 0.5 * Math.cos(2 * Math.PI * w) + 0.08 * Math.cos(4 * Math.PI * w));
});

/**
 * The mono samples at `rate`, by direct band-limited (windowed-sinc) interpolation with the cutoff at 95% of
 * the lower Nyquist frequency. Written here rather than taken from `functions/speech/resample.ts` so that
 * the tests of that resampler's callers do not lean on it; wavefile's own resampler would do as well but
 * takes seconds per recording.
 */
function resampled(audio: SpokenAudio, rate: number): Float64Array {
  const input = audio.samples;
  if (rate === audio.sampleRate) return Float64Array.from(input);
  const step = audio.sampleRate / rate; // input samples per output sample
  const cutoff = 0.95 * Math.min(1, 1 / step); // in units of the input Nyquist frequency
  const half = ZERO_CROSSINGS / cutoff; // kernel half-width in input samples
  const output = new Float64Array(Math.round(input.length / step));
  for (let i = 0; i < output.length; i++) {
    const t = i * step;
    const first = Math.max(0, Math.ceil(t - half));
    const last = Math.min(input.length - 1, Math.floor(t + half));
    let sum = 0;
    for (let k = first; k <= last; k++) {
      const at = Math.abs(t - k) * cutoff * TABLE_STEPS;
      const j = Math.floor(at);
      const kernel = (KERNEL[j] as number) + (at - j) * ((KERNEL[j + 1] as number) - (KERNEL[j] as number));
      sum += (input[k] as number) * kernel;
    }
    output[i] = sum * cutoff;
  }
  return output;
}

/** Compressed formats with committed fixtures: FLAC, Ogg Vorbis, MP3 and Ogg Opus. */
export type CompressedTestFormat = 'flac' | 'vorbis' | 'mp3' | 'opus';

/** The encoded fixtures: each a shared recording, converted to 16-bit mono WAV at `rate`, then encoded. */
export const ENCODED_FIXTURES: readonly { script: ScriptName; format: CompressedTestFormat; rate: number }[] =
  [
    { script: 'three-sentences', format: 'flac', rate: 44100 },
    { script: 'three-sentences', format: 'vorbis', rate: 22050 },
    { script: 'three-sentences', format: 'mp3', rate: 16000 },
    { script: 'three-sentences', format: 'opus', rate: 16000 },
    { script: 'meeting', format: 'flac', rate: 16000 },
    { script: 'meeting', format: 'mp3', rate: 16000 },
    { script: 'meeting', format: 'opus', rate: 16000 },
  ];

/** Where an encoded fixture lives, e.g. `encoded/meeting-16000.opus`. */
export function encodedFixturePath(script: ScriptName, format: CompressedTestFormat, rate: number): string {
  return `${SPEECH_FIXTURES}encoded/${script}-${rate}.${format === 'vorbis' ? 'ogg' : format}`;
}

/**
 * The committed compressed file of a shared recording: what `wavOf(await compose(SCRIPTS[script]), { rate })`
 * became through sox (FLAC, Vorbis), lame (MP3) or opusenc (Opus).
 */
export async function encodedFixture(
  script: ScriptName,
  format: CompressedTestFormat,
  rate: number,
): Promise<Uint8Array> {
  const path = encodedFixturePath(script, format, rate);
  const bytes = await readFile(path).catch(() => undefined);
  if (!bytes) throw new Error(`no encoded fixture ${path}: ${REMAKE}`);
  return new Uint8Array(bytes);
}
