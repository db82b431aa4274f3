/**
 * Checks a Hugging Face ONNX export (Optimum's `optimum-cli export onnx`, or a Hub repository's `onnx/`
 * folder) against what a task feeds and reads, and describes the repository entry that serves it:
 * `npm run models:import` (`scripts/import-model.ts`) is the command around it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type {
  ModelManifest,
  Pooling,
  TensorSpec,
  TransformerSettings,
} from '../core/model-store/manifest.ts';
import type { ModelFileSource } from '../core/model-store/write-model.ts';
import { TextTokenizer } from './tokenizer.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** The tasks an imported transformer can serve. */
export const IMPORTABLE_TASKS = ['text/classify', 'text/embed'] as const;
export type ImportableTask = (typeof IMPORTABLE_TASKS)[number];

/** An export that does not fit the task; the message names what is missing or wrong. */
export class ImportRefusedError extends Error {
  override readonly name = 'ImportRefusedError';
  constructor(readonly problems: readonly string[]) {
    super(`cannot import this export:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Options of {@link planImport}. */
export interface ImportOptions {
  /** The export folder. */
  readonly from: string;
  readonly name: string;
  readonly version: string;
  /** Default: `text/classify` for a `...ForSequenceClassification` config, else `text/embed`. */
  readonly task?: ImportableTask;
  /** Default: the tokenizer's `model_max_length` or the config's `max_position_embeddings`, else 512. */
  readonly maxLength?: number;
  /** Embedders: default `mean` over `last_hidden_state`, or `none` for a `sentence_embedding` output. */
  readonly pooling?: Pooling;
  /** Multi-label classifiers: the probability from which a label is given; default 0.5. */
  readonly threshold?: number;
}

/** A repository entry to write: the manifest (less `files`) and the files to copy into the version folder. */
export interface ImportPlan {
  readonly manifest: Omit<ModelManifest, 'files'>;
  readonly files: readonly ModelFileSource[];
}

const DATATYPES: Record<number, TensorSpec['datatype']> = {
  [T.FLOAT]: 'FP32',
  [T.FLOAT16]: 'FP16',
  [T.DOUBLE]: 'FP64',
  [T.INT64]: 'INT64',
  [T.INT32]: 'INT32',
  [T.INT8]: 'INT8',
  [T.UINT8]: 'UINT8',
  [T.BOOL]: 'BOOL',
};

/** A graph input or output as the manifest declares it; `-1` for a named (dynamic) dimension. */
function specOf(info: onnxProto.onnx.IValueInfoProto): TensorSpec & { elemType: number } {
  const tensor = info.type?.tensorType;
  const elemType = tensor?.elemType ?? 0;
  return {
    name: info.name ?? '',
    datatype: DATATYPES[elemType] ?? 'BYTES',
    elemType,
    dims: (tensor?.shape?.dim ?? []).map((d) =>
      d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1,
    ),
  };
}

/** The graph's inputs (less initializers) and outputs, and whether its weights are in external files. */
export function graphSignature(bytes: Uint8Array): {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  externalData: boolean;
} {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph ?? {};
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const strip = ({ elemType: _, ...spec }: TensorSpec & { elemType: number }): TensorSpec => spec;
  return {
    inputs: (graph.input ?? []).filter((i) => !initializers.has(i.name ?? '')).map((i) => strip(specOf(i))),
    outputs: (graph.output ?? []).map((o) => strip(specOf(o))),
    externalData: (graph.initializer ?? []).some(
      (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
    ),
  };
}

const FED = ['input_ids', 'attention_mask', 'token_type_ids'];
const describe = (specs: readonly TensorSpec[]) =>
  specs
    .map((s) => `${s.name} ${s.datatype} [${s.dims.map((d) => (d < 0 ? '?' : d)).join(', ')}]`)
    .join(', ') || 'none';

/** Problems of the graph's inputs: what the tokenizer cannot feed, or feeds in another type. */
function inputProblems(inputs: readonly TensorSpec[]): string[] {
  const problems: string[] = [];
  const byName = new Map(inputs.map((i) => [i.name, i]));
  for (const required of ['input_ids', 'attention_mask']) {
    const input = byName.get(required);
    if (!input) problems.push(`the graph has no input "${required}" (its inputs: ${describe(inputs)})`);
  }
  for (const input of inputs) {
    if (!FED.includes(input.name)) {
      problems.push(
        `the graph needs input "${input.name}", which a tokenizer does not give (only input_ids, attention_mask, token_type_ids)`,
      );
    } else if (input.datatype !== 'INT64') {
      problems.push(`input "${input.name}" is ${input.datatype}; it must be INT64, as Optimum exports it`);
    } else if (input.dims.length !== 2) {
      problems.push(
        `input "${input.name}" has ${input.dims.length} dimensions; it must be [batch, sequence]`,
      );
    }
  }
  return problems;
}

interface HfConfig {
  architectures?: string[];
  id2label?: Record<string, string>;
  problem_type?: string;
  max_position_embeddings?: number;
}

/** Labels by class index from `id2label`, or a problem naming what is wrong with it. */
function labelsOf(config: HfConfig): string[] | string {
  const entries = Object.entries(config.id2label ?? {});
  if (entries.length === 0) return 'config.json has no "id2label": a classifier needs its labels';
  const labels: string[] = new Array(entries.length);
  for (const [index, label] of entries) {
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof label !== 'string' || label === '') {
      return `config.json's "id2label" must map 0..${entries.length - 1} to names (got "${index}": ${JSON.stringify(label)})`;
    }
    labels[i] = label;
  }
  return labels;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ImportRefusedError([`${path} is not JSON: ${(error as Error).message}`]);
  }
}

/** The longest input: the option, else the tokenizer's or the config's maximum, else 512. */
function maxLengthOf(
  options: ImportOptions,
  tokenizerConfig: Record<string, unknown> | undefined,
  config: HfConfig,
) {
  if (options.maxLength) return options.maxLength;
  const limits = [tokenizerConfig?.model_max_length, config.max_position_embeddings].filter(
    // Hugging Face writes 1e30 for "no limit" in model_max_length.
    (n): n is number => typeof n === 'number' && Number.isInteger(n) && n > 1 && n < 1_000_000,
  );
  return limits.length ? Math.min(...limits) : 512;
}

/**
 * Reads an export folder, checks it against the task and plans its repository entry.
 *
 * @throws {ImportRefusedError} listing every problem: a missing file, an input the tokenizer cannot feed,
 *   an output the task cannot read, labels that do not match the logits.
 */
export async function planImport(options: ImportOptions): Promise<ImportPlan> {
  const { from } = options;
  const problems: string[] = [];
  const modelPath = ['model.onnx', 'onnx/model.onnx'].find((p) => existsSync(join(from, p)));
  if (!modelPath) problems.push(`${from} has no model.onnx (nor onnx/model.onnx)`);
  const tokenizerPath = join(from, 'tokenizer.json');
  if (!existsSync(tokenizerPath))
    problems.push(`${from} has no tokenizer.json (export with a fast tokenizer)`);
  const config = ((await readJson(join(from, 'config.json'))) ?? {}) as HfConfig;
  if (!existsSync(join(from, 'config.json'))) problems.push(`${from} has no config.json`);
  if (problems.length) throw new ImportRefusedError(problems);

  const task: ImportableTask =
    options.task ??
    (config.architectures?.some((a) => a.endsWith('ForSequenceClassification'))
      ? 'text/classify'
      : 'text/embed');
  const signature = graphSignature(await readFile(join(from, modelPath as string)));
  if (signature.externalData) {
    // Optimum writes the weights of a graph over 2 GB beside it (`model.onnx_data`): far too large for a
    // function, and a variant of the repository is one file.
    throw new ImportRefusedError([
      `${modelPath} keeps its weights in an external data file; export or quantise the model under 2 GB so the graph holds them`,
    ]);
  }
  problems.push(...inputProblems(signature.inputs));
  const outputs = new Map(signature.outputs.map((o) => [o.name, o]));

  const tokenizerConfig = await readJson(join(from, 'tokenizer_config.json'));
  const maxLength = maxLengthOf(options, tokenizerConfig, config);
  try {
    const json = JSON.parse(await readFile(tokenizerPath, 'utf8')) as Record<string, unknown>;
    TextTokenizer.create(json, { maxLength, ...(tokenizerConfig ? { config: tokenizerConfig } : {}) }).encode(
      'a test',
    );
  } catch (error) {
    problems.push(`tokenizer.json cannot be used: ${(error as Error).message}`);
  }

  let taskSettings: Partial<TransformerSettings> & { output?: string } = {};
  if (task === 'text/classify') {
    const logits = outputs.get('logits');
    const labels = labelsOf(config);
    if (typeof labels === 'string') problems.push(labels);
    if (!logits) {
      problems.push(
        `the graph has no output "logits" [batch, labels] (its outputs: ${describe(signature.outputs)}); export with --task text-classification`,
      );
    } else if (logits.dims.length !== 2 || logits.datatype !== 'FP32') {
      problems.push(`output "logits" must be FP32 [batch, labels] (got ${describe([logits])})`);
    } else if (Array.isArray(labels) && (logits.dims[1] as number) > 0 && logits.dims[1] !== labels.length) {
      problems.push(
        `output "logits" has ${logits.dims[1]} classes but config.json's id2label names ${labels.length}`,
      );
    }
    const problemType =
      config.problem_type === 'multi_label_classification'
        ? 'multi_label_classification'
        : 'single_label_classification';
    if (config.problem_type === 'regression')
      problems.push('config.json\'s problem_type is "regression"; text/classify serves classifiers');
    taskSettings = {
      output: 'logits',
      ...(Array.isArray(labels) ? { labels } : {}),
      problemType,
      ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
    };
  } else {
    const wanted = options.pooling;
    const perToken = outputs.get('last_hidden_state') ?? outputs.get('token_embeddings');
    const perText = outputs.get('sentence_embedding') ?? outputs.get('pooler_output');
    let output: TensorSpec | undefined;
    let pooling: Pooling;
    if (wanted === 'pooler') {
      output = outputs.get('pooler_output');
      pooling = 'pooler';
      if (!output)
        problems.push(
          `pooling "pooler" needs an output "pooler_output" (its outputs: ${describe(signature.outputs)})`,
        );
    } else if (wanted === 'none' || (!wanted && !perToken && perText)) {
      output = perText;
      pooling = 'none';
      if (!output)
        problems.push(
          `pooling "none" needs an output "sentence_embedding" [batch, dimensions] (its outputs: ${describe(signature.outputs)})`,
        );
    } else {
      output = perToken;
      pooling = wanted ?? 'mean';
      if (!output) {
        problems.push(
          `the graph has no output "last_hidden_state" [batch, sequence, hidden] nor "sentence_embedding" (its outputs: ${describe(signature.outputs)}); export with --task feature-extraction`,
        );
      }
    }
    const rank = pooling === 'mean' || pooling === 'cls' ? 3 : 2;
    if (output && (output.dims.length !== rank || output.datatype !== 'FP32')) {
      problems.push(
        `output "${output.name}" must be FP32 with ${rank} dimensions for pooling "${pooling}" (got ${describe([output])})`,
      );
    }
    taskSettings = { ...(output ? { output: output.name } : {}), pooling, normalize: true };
  }
  if (problems.length) throw new ImportRefusedError(problems);

  const hasTokenTypes = signature.inputs.some((i) => i.name === 'token_type_ids');
  const extras = ['tokenizer_config.json', 'special_tokens_map.json', 'config.json'].filter((f) =>
    existsSync(join(from, f)),
  );
  const transformer: TransformerSettings = {
    tokenizer: 'tokenizer.json',
    ...(tokenizerConfig ? { tokenizerConfig: 'tokenizer_config.json' } : {}),
    maxLength,
    tokenTypeIds: hasTokenTypes,
    output: taskSettings.output as string,
    ...taskSettings,
  };
  return {
    manifest: {
      name: options.name,
      version: options.version,
      task,
      platform: 'onnxruntime',
      description: `imported from a Hugging Face export (${config.architectures?.join(', ') ?? 'no architecture named'})`,
      inputs: signature.inputs,
      outputs: signature.outputs,
      maxBatchSize: 0,
      variants: { fp32: { file: 'model.onnx', description: 'the exported graph, as it was' } },
      defaultVariant: 'fp32',
      transformer,
    },
    files: [
      { path: 'model.onnx', source: join(from, modelPath as string) },
      { path: 'tokenizer.json', source: tokenizerPath },
      ...extras.map((f) => ({ path: f, source: join(from, f) })),
    ],
  };
}
