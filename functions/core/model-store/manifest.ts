import { z } from 'zod';
import { SEGMENT, SEGMENT_RULE } from './segment.ts';

/** Open Inference Protocol tensor data types. */
export const TensorDatatype = z.enum([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
]);
export type TensorDatatype = z.infer<typeof TensorDatatype>;

/** One input or output of a model; `-1` in `dims` marks a variable dimension (batch included). */
export const TensorSpec = z.object({
  name: z.string().min(1),
  datatype: TensorDatatype,
  dims: z.array(z.number().int().min(-1)),
});
export type TensorSpec = z.infer<typeof TensorSpec>;

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\'), {
    message: 'must be a relative path inside the version folder',
  });

/** A file of a model version with the size and sha256 it must have. */
export const ManifestFile = z.object({
  path: relativePath,
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex sha256'),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

/** A variant of the weights (fp32, int8, fp16, ...): which file holds it. */
export const ModelVariant = z.object({
  file: relativePath.optional(),
  description: z.string().optional(),
});
export type ModelVariant = z.infer<typeof ModelVariant>;

/** A model an ensemble is made of, by role (e.g. `detector`). */
export const ComposingModel = z.object({
  role: z.string().min(1),
  name: z.string().min(1),
  version: z.string().min(1),
});

/** How an imported transformer's output becomes a classification: softmax over classes, or sigmoid each. */
export const ProblemType = z.enum(['single_label_classification', 'multi_label_classification']);
export type ProblemType = z.infer<typeof ProblemType>;

/**
 * How an imported transformer's token vectors become one vector per text: `mean` over the attention mask
 * (sentence-transformers' default), `cls` (the first token), `pooler` (the graph's pooled output, taken as
 * it is), or `none` (the graph's output is already one vector per text, e.g. `sentence_embedding`).
 */
export const Pooling = z.enum(['mean', 'cls', 'pooler', 'none']);
export type Pooling = z.infer<typeof Pooling>;

/**
 * What serving an imported Hugging Face transformer needs beside the graph: its tokenizer files, the
 * longest input, and for a classifier its labels (`config.json`'s `id2label`, by class index) and problem
 * type, for an embedder the output and pooling. Written by `npm run models:import`.
 */
export const TransformerSettings = z.object({
  /** `tokenizer.json` (WordPiece, BPE or Unigram). */
  tokenizer: relativePath,
  /** `tokenizer_config.json`, when the export has one. */
  tokenizerConfig: relativePath.optional(),
  /** Most tokens of one text, special tokens included; longer texts are cut. */
  maxLength: z.number().int().min(2),
  /** Whether the graph takes `token_type_ids` (BERT does, DistilBERT and RoBERTa exports often do not). */
  tokenTypeIds: z.boolean(),
  /** The graph output read: `logits`, `last_hidden_state`, `pooler_output`, `sentence_embedding`, ... */
  output: z.string().min(1),
  /** Class names by index (classifiers). */
  labels: z.array(z.string().min(1)).min(1).optional(),
  problemType: ProblemType.optional(),
  /** Probability from which a label is given to a text, for multi-label classifiers; default 0.5. */
  threshold: z.number().gt(0).lt(1).optional(),
  /** Embedders: how token vectors become a text's vector; default `mean`. */
  pooling: Pooling.optional(),
  /** Embedders: whether vectors are scaled to length 1; default true. */
  normalize: z.boolean().optional(),
});
export type TransformerSettings = z.infer<typeof TransformerSettings>;

/**
 * A classifier's decision rule when it is not "the most probable label": `label` is given to a text whose
 * probability of it is at least `threshold`, otherwise the most probable other label. Scores stay the
 * model's; only the label changes. Chosen on validation data for a target share of false positives.
 */
export const DecisionThreshold = z.object({
  /** The label the threshold guards, e.g. `spam`. */
  label: z.string().min(1),
  threshold: z.number().gt(0).lt(1),
  /** What the threshold was chosen for, e.g. "at most 1 % of validation ham flagged". */
  rationale: z.string().optional(),
});
export type DecisionThreshold = z.infer<typeof DecisionThreshold>;

/** Name of a model or a version: safe as a path segment and an S3 key segment. */
const segment = z.string().regex(SEGMENT, SEGMENT_RULE);

/**
 * The manifest of one model version: `<repository>/<name>/<version>/manifest.json`.
 *
 * @example
 * ```json
 * { "name": "ppocr-v4-det", "version": "1", "task": "image/text-detection", "platform": "onnxruntime",
 *   "inputs": [{ "name": "x", "datatype": "FP32", "dims": [-1, 3, -1, -1] }], "outputs": [...],
 *   "maxBatchSize": 1, "files": [{ "path": "model.onnx", "bytes": 4745517, "sha256": "..." }],
 *   "variants": { "fp32": { "file": "model.onnx" } }, "defaultVariant": "fp32" }
 * ```
 */
export const ModelManifest = z
  .object({
    name: segment,
    version: segment,
    task: z.string().min(1),
    platform: z.enum(['onnxruntime', 'ensemble']),
    description: z.string().optional(),
    inputs: z.array(TensorSpec),
    outputs: z.array(TensorSpec),
    maxBatchSize: z.number().int().nonnegative(),
    files: z.array(ManifestFile),
    variants: z.record(z.string().min(1), ModelVariant),
    defaultVariant: z.string().min(1),
    /** Variant each deployment tier uses, e.g. `{ "lambda": "int8", "gpu": "fp32" }`. */
    tiers: z.record(z.string(), z.string()).optional(),
    composing: z.array(ComposingModel).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    /** Present for imported Hugging Face transformers (`npm run models:import`). */
    transformer: TransformerSettings.optional(),
    /** A classifier's decision threshold; absent: the most probable label wins. */
    decision: DecisionThreshold.optional(),
    source: z
      .object({ package: z.string(), version: z.string(), license: z.string(), files: z.array(z.string()) })
      .optional(),
  })
  .superRefine((m, ctx) => {
    const files = new Set(m.files.map((f) => f.path));
    if (files.size !== m.files.length) ctx.addIssue({ code: 'custom', message: 'duplicate file paths' });
    if (!(m.defaultVariant in m.variants)) {
      ctx.addIssue({ code: 'custom', message: `defaultVariant "${m.defaultVariant}" is not a variant` });
    }
    for (const [id, v] of Object.entries(m.variants)) {
      if (m.platform === 'onnxruntime' && !v.file) {
        ctx.addIssue({ code: 'custom', message: `variant "${id}" names no file` });
      }
      if (v.file && !files.has(v.file)) {
        ctx.addIssue({ code: 'custom', message: `variant "${id}" file "${v.file}" is not in files` });
      }
    }
    for (const [tier, variant] of Object.entries(m.tiers ?? {})) {
      if (!(variant in m.variants)) {
        ctx.addIssue({ code: 'custom', message: `tier "${tier}" uses unknown variant "${variant}"` });
      }
    }
    const transformer = m.transformer;
    for (const file of [transformer?.tokenizer, transformer?.tokenizerConfig]) {
      if (file && !files.has(file)) {
        ctx.addIssue({ code: 'custom', message: `transformer file "${file}" is not in files` });
      }
    }
    if (m.platform === 'ensemble' && !m.composing?.length) {
      ctx.addIssue({ code: 'custom', message: 'an ensemble needs composing models' });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifest>;

/** Parses and validates a manifest, with a message naming every problem. */
export function parseManifest(json: unknown, where: string): ModelManifest {
  const parsed = ModelManifest.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid manifest ${where}: ${problems.join('; ')}`);
  }
  return parsed.data;
}
