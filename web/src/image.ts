/** The image task: a file chosen, dropped or pasted, read by OCR; each line's box drawn over the image. */
import { showAnswer } from './answer.ts';
import { postFile, type StageTimings } from './api.ts';
import { acceptDrops, byId, el, showError, svg } from './dom.ts';

interface OcrLine {
  readonly text: string;
  readonly confidence: number;
  readonly box: readonly (readonly [number, number])[];
}

interface OcrResult {
  readonly width: number;
  readonly height: number;
  readonly lines: readonly OcrLine[];
  readonly timings: StageTimings;
}

const ROUTE = '/v1/image/ocr';

/** Wires the image section; `onAnswer` is told after each answer (the chart refreshes). */
export function setUpImage(onAnswer: () => void): void {
  const input = byId<HTMLInputElement>('image-file');
  const error = byId('image-error');
  const result = byId('image-result');
  const figure = byId('image-figure');
  const list = byId('image-lines');
  const answer = byId('image-answer');
  let shown: string | undefined;

  const read = async (file: File) => {
    showError(error, undefined);
    figure.setAttribute('aria-busy', 'true');
    const reply = await postFile<OcrResult>(ROUTE, file);
    figure.removeAttribute('aria-busy');
    onAnswer();
    if (!reply.ok) {
      result.hidden = true;
      answer.replaceChildren();
      showError(error, reply.error);
      return;
    }
    if (shown) URL.revokeObjectURL(shown);
    shown = URL.createObjectURL(file);
    draw(reply.body, shown);
    showAnswer(answer, reply.body);
  };

  const draw = (ocr: OcrResult, url: string) => {
    const image = el('img', { src: url, alt: `The image sent, ${ocr.width} by ${ocr.height} pixels` });
    const overlay = svg('svg', {
      viewBox: `0 0 ${ocr.width} ${ocr.height}`,
      class: 'boxes',
      preserveAspectRatio: 'none',
      role: 'group',
      'aria-label': `${ocr.lines.length} lines found`,
    });
    list.replaceChildren();
    ocr.lines.forEach((line, i) => {
      const label = `${line.text} — confidence ${(line.confidence * 100).toFixed(1)}%`;
      const box = svg('polygon', {
        points: line.box.map(([x, y]) => `${x},${y}`).join(' '),
        class: 'ocr-box',
        'data-line': i,
      });
      // A native tooltip on hover: the text and its confidence.
      const title = svg('title');
      title.textContent = label;
      box.append(title);
      overlay.append(box);
      const item = el(
        'li',
        { tabindex: '0', 'data-line': String(i), title: label },
        el('span', { class: 'line-text' }, line.text),
        el('span', { class: 'confidence' }, `${(line.confidence * 100).toFixed(0)}%`),
      );
      // Pointing at a line, or focusing it with the keyboard, lights its box.
      const light = (on: boolean) => box.classList.toggle('lit', on);
      for (const [event, on] of [
        ['mouseenter', true],
        ['mouseleave', false],
        ['focus', true],
        ['blur', false],
      ] as const) {
        item.addEventListener(event, () => light(on));
      }
      box.addEventListener('mouseenter', () => item.classList.add('lit'));
      box.addEventListener('mouseleave', () => item.classList.remove('lit'));
      list.append(item);
    });
    if (ocr.lines.length === 0) list.append(el('li', { class: 'none' }, 'No text found.'));
    figure.replaceChildren(el('div', { class: 'frame' }, image, overlay));
    result.hidden = false;
  };

  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void read(file);
  });
  acceptDrops(byId('image-drop'), (file) => void read(file));
  // A pasted image goes here wherever the focus is; pasted text stays where it was pasted.
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (!file) return;
    event.preventDefault();
    void read(file);
  });
}
