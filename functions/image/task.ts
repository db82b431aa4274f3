import { InvalidInputError } from '../core/errors.ts';
import { TASK_DESCRIPTORS } from '../core/tasks/descriptors.ts';
import { readBinaryOrJson } from '../core/tasks/request-body.ts';
import { defineTask } from '../core/tasks/types.ts';
import { OcrPipeline } from './ocr-pipeline.ts';

const descriptor = TASK_DESCRIPTORS['image/ocr'];

/** `image/ocr`: an image in, lines of text with boxes out, on a PP-OCR ensemble. */
export const imageOcrTask = defineTask(descriptor, async (ensemble, store) => {
  const { manifest } = ensemble;
  const component = (role: string) => {
    const c = manifest.composing?.find((m) => m.role === role);
    if (!c)
      throw new InvalidInputError(
        `model ${manifest.name}@${manifest.version} has no "${role}"; is it an OCR ensemble?`,
      );
    return store.load(c.name, c.version);
  };
  const [detector, classifier, recognizer] = await Promise.all([
    component('detector'),
    component('classifier'),
    component('recognizer'),
  ]);
  const pipeline = await OcrPipeline.create({ detector, classifier, recognizer });
  return {
    components: [detector, classifier, recognizer],
    async run(input) {
      const { bytes } = readBinaryOrJson(input, 'image', descriptor.mediaTypes);
      const { timings, ...result } = await pipeline.run(bytes);
      return { result: { ...result }, timings, items: 1 };
    },
  };
});
