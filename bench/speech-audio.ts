/**
 * Recordings for the speech benchmark: sentences spoken by espeak-ng (committed fixtures in
 * `test/fixtures/speech/sentences/`) between pauses of varying length, built with the test helpers.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose, gaussianNoise, type Part, readWavSamples, wavOf } from '../test/support/spoken-audio.ts';

/** The benchmark's sentences; `scripts/fixtures/make-speech-fixtures.ts` records each one. */
export const SENTENCES = [
  'The weather today is warm and sunny.',
  'Please send the report to the office before noon.',
  'Our train leaves from platform nine at seven thirty.',
  'She likes reading books about the history of science.',
  'Could you call me back when you have a moment?',
  'The meeting has been moved to Thursday afternoon.',
  'We need three more chairs for the conference room.',
  'His flight from Chicago landed twenty minutes early.',
  'Remember to water the plants while I am away.',
  'The new library opens next month near the river.',
  'I would like a coffee with a little milk please.',
  'They finished painting the kitchen last weekend.',
];

/** One benchmark recording: WAV bytes and where its speech was placed. */
export interface BenchRecording {
  readonly name: string;
  readonly wav: Uint8Array;
  readonly duration: number;
  readonly truth: { start: number; end: number }[];
}

/**
 * `count` recordings of about 40 s each at `rate` Hz, 16-bit mono: ten sentences in a shuffled order with
 * pauses from 0.4 to 2.5 s; every fourth one over white noise 20 dB below the speech.
 */
export async function benchRecordings(count: number, rate = 16000): Promise<BenchRecording[]> {
  const recordings: BenchRecording[] = [];
  for (let i = 0; i < count; i++) {
    const random = gaussianNoise(1000 + i);
    const uniform = () => Math.min(1, Math.abs(random()) / 3);
    const order = [...SENTENCES];
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(uniform() * 0.999 * (k + 1));
      [order[k], order[j]] = [order[j] as string, order[k] as string];
    }
    const parts: Part[] = [{ silence: 0.5 + uniform() }];
    for (const say of order.slice(0, 10)) parts.push({ say }, { silence: 0.4 + 2.1 * uniform() });
    const audio = await compose(parts, i % 4 === 3 ? { noiseRms: 0.01 } : {});
    const wav = wavOf(audio, { rate });
    recordings.push({
      name: `speech-${i}@${rate / 1000}k`,
      wav,
      duration: audio.samples.length / audio.sampleRate,
      truth: audio.truth,
    });
  }
  return recordings;
}

/**
 * A WAV file of `seconds` at 16 kHz, 16-bit mono, made of the recordings repeated, written to disk in
 * pieces (the parent process never holds it whole either).
 */
export async function longRecording(recordings: readonly BenchRecording[], seconds: number): Promise<string> {
  const path = join(tmpdir(), 'inferlet-speech-cache', `long-${seconds}s-16k.wav`);
  if (existsSync(path)) return path;
  const rate = 16000;
  const frames = seconds * rate;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + frames * 2, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(frames * 2, 40);
  const pieces = recordings.map((r) => {
    const { samples, sampleRate } = readWavSamples(r.wav);
    if (sampleRate !== rate) throw new Error(`${r.name} is not at 16 kHz`);
    const pcm = Buffer.alloc(samples.length * 2);
    samples.forEach((x, i) => {
      pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(x * 32767))), i * 2);
    });
    return pcm;
  });
  const temp = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(temp);
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
  await write(header);
  let left = frames * 2;
  for (let i = 0; left > 0; i++) {
    const piece = pieces[i % pieces.length] as Buffer;
    const chunk = piece.subarray(0, Math.min(piece.length, left));
    await write(chunk);
    left -= chunk.length;
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  await rename(temp, path);
  return path;
}
