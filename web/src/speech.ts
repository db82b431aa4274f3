/** The speech task: a recording chosen, dropped or recorded; its waveform with the speech shaded. */
import { showAnswer } from './answer.ts';
import { postFile, type StageTimings } from './api.ts';
import { acceptDrops, byId, el, showError } from './dom.ts';

interface Segment {
  readonly start: number;
  readonly end: number;
  readonly confidence: number;
}

interface VadResult {
  readonly duration: number;
  readonly segments: readonly Segment[];
  readonly speechRatio: number;
  readonly timings: StageTimings;
}

const ROUTE = '/v1/speech/vad';

/** 16-bit mono WAV of `samples` at `rate`: what a recording is sent as (the API takes WAV). */
export function encodeWav(samples: Float32Array, rate: number): Blob {
  const bytes = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) bytes.setUint8(at + i, text.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  bytes.setUint32(4, 36 + samples.length * 2, true);
  ascii(8, 'WAVEfmt ');
  bytes.setUint32(16, 16, true);
  bytes.setUint16(20, 1, true);
  bytes.setUint16(22, 1, true);
  bytes.setUint32(24, rate, true);
  bytes.setUint32(28, rate * 2, true);
  bytes.setUint16(32, 2, true);
  bytes.setUint16(34, 16, true);
  ascii(36, 'data');
  bytes.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => {
    bytes.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true);
  });
  return new Blob([bytes.buffer], { type: 'audio/wav' });
}

/** Draws the waveform: the smallest and largest sample of each pixel column. */
function drawWave(canvas: HTMLCanvasElement, audio: AudioBuffer | undefined): void {
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 120;
  canvas.width = width * devicePixelRatio;
  canvas.height = height * devicePixelRatio;
  const g = canvas.getContext('2d');
  if (!g) return;
  g.scale(devicePixelRatio, devicePixelRatio);
  g.clearRect(0, 0, width, height);
  g.fillStyle = getComputedStyle(canvas).color;
  if (!audio) {
    g.fillRect(0, height / 2, width, 1);
    return;
  }
  const data = audio.getChannelData(0);
  const step = Math.max(1, Math.floor(data.length / width));
  for (let x = 0; x < width; x++) {
    let low = 1;
    let high = -1;
    for (let i = x * step; i < Math.min(data.length, (x + 1) * step); i++) {
      const v = data[i] ?? 0;
      if (v < low) low = v;
      if (v > high) high = v;
    }
    if (low > high) continue;
    g.fillRect(x, ((1 - high) / 2) * height, 1, Math.max(1, ((high - low) / 2) * height));
  }
}

/** Wires the speech section; `onAnswer` is told after each answer. */
export function setUpSpeech(onAnswer: () => void): void {
  const input = byId<HTMLInputElement>('speech-file');
  const error = byId('speech-error');
  const result = byId('speech-result');
  const wave = byId('speech-wave');
  const canvas = byId<HTMLCanvasElement>('speech-canvas');
  const answer = byId('speech-answer');
  const recordButton = byId<HTMLButtonElement>('speech-record');
  let context: AudioContext | undefined;
  let playing: AudioBufferSourceNode | undefined;

  const audioContext = () => {
    context ??= new AudioContext();
    return context;
  };

  const detect = async (file: Blob) => {
    showError(error, undefined);
    const reply = await postFile<VadResult>(ROUTE, file, file.type || 'application/octet-stream');
    onAnswer();
    if (!reply.ok) {
      result.hidden = true;
      answer.replaceChildren();
      showError(error, reply.error);
      return;
    }
    // The browser decodes for the picture and playback only; the server decoded what it measured.
    const audio = await audioContext()
      .decodeAudioData(await file.arrayBuffer())
      .catch(() => undefined);
    result.hidden = false;
    drawWave(canvas, audio);
    const duration = reply.body.duration || audio?.duration || 1;
    for (const old of wave.querySelectorAll('.segment')) old.remove();
    for (const segment of reply.body.segments) {
      const label = `Play speech from ${segment.start.toFixed(2)} s to ${segment.end.toFixed(2)} s`;
      const button = el('button', {
        type: 'button',
        class: 'segment',
        style: `left:${(segment.start / duration) * 100}%;width:${((segment.end - segment.start) / duration) * 100}%`,
        'aria-label': label,
        title: `${label} (confidence ${(segment.confidence * 100).toFixed(0)}%)`,
      });
      button.disabled = audio === undefined;
      button.addEventListener('click', () => {
        if (!audio) return;
        playing?.stop();
        const source = audioContext().createBufferSource();
        source.buffer = audio;
        source.connect(audioContext().destination);
        source.start(0, segment.start, segment.end - segment.start);
        playing = source;
      });
      wave.append(button);
    }
    wave.setAttribute(
      'aria-label',
      `${reply.body.segments.length} speech segments in ${duration.toFixed(1)} s`,
    );
    showAnswer(answer, reply.body);
  };

  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void detect(file);
  });
  acceptDrops(byId('speech-drop'), (file) => void detect(file));

  // Recording: the microphone's samples gathered as they come and sent as WAV, a format the API reads,
  // rather than MediaRecorder's WebM, which it does not.
  let stopRecording: (() => void) | undefined;
  recordButton.addEventListener('click', async () => {
    if (stopRecording) {
      stopRecording();
      return;
    }
    showError(error, undefined);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (reason) {
      showError(error, `the microphone is not available (${String(reason)})`);
      return;
    }
    const ctx = audioContext();
    const source = ctx.createMediaStreamSource(stream);
    const processor = ctx.createScriptProcessor(4096, 1, 1);
    const chunks: Float32Array[] = [];
    processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(ctx.destination);
    recordButton.textContent = 'Stop';
    recordButton.setAttribute('aria-pressed', 'true');
    stopRecording = () => {
      stopRecording = undefined;
      processor.disconnect();
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      recordButton.textContent = 'Record';
      recordButton.setAttribute('aria-pressed', 'false');
      const samples = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const chunk of chunks) {
        samples.set(chunk, at);
        at += chunk.length;
      }
      void detect(encodeWav(samples, ctx.sampleRate));
    };
  });
}
