import { InvalidInputError } from '../core/errors.ts';
import { readBinaryOrJson } from '../core/tasks/request-body.ts';
import { modelRefOf, type TaskDefinition } from '../core/tasks/types.ts';
import { OcrPipeline } from './ocr-pipeline.ts';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;

/** `image/ocr`: an image in, lines of text with boxes out, on a PP-OCR ensemble. */
export const imageOcrTask: TaskDefinition = {
  name: 'image/ocr',
  modality: 'image',
  route: '/v1/image/ocr',
  defaultModel: 'ppocr-v4',
  mediaTypes: IMAGE_TYPES,
  async load(store, wanted) {
    const ensemble = await store.load(wanted.name, wanted.version);
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
      model: modelRefOf(ensemble),
      loaded: [ensemble, detector, classifier, recognizer].map(modelRefOf),
      runner: {
        async run(input) {
          const { bytes } = readBinaryOrJson(input, 'image', IMAGE_TYPES);
          const { timings, ...result } = await pipeline.run(bytes);
          return { result: { ...result }, timings, items: 1 };
        },
      },
    };
  },
};
