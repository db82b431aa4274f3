import { echoed, InvalidInputError, PayloadTooLargeError } from '../errors.ts';
import { FLOAT16_OVERFLOW, fromFloat16Bits, toFloat16Bits } from '../float16.ts';
import type { TensorDatatype, TensorSpec } from '../model-store/manifest.ts';
import { ort } from '../onnx.ts';

/** An Open Inference Protocol v2 JSON tensor. */
export interface OipTensor {
  readonly name: string;
  readonly shape: number[];
  readonly datatype: TensorDatatype;
  readonly data: unknown[];
}

const ORT_TYPES: Partial<Record<TensorDatatype, ort.Tensor.Type>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const OIP_TYPES = Object.fromEntries(Object.entries(ORT_TYPES).map(([k, v]) => [v, k])) as Record<
  string,
  TensorDatatype
>;

/**
 * Most elements one tensor may have whatever the configuration, to keep a bad request from exhausting
 * memory; the OIP routes hold inputs and outputs to the smaller `OIP_MAX_ELEMENTS`.
 */
export const MAX_TENSOR_ELEMENTS = 32 * 1024 * 1024;

/** A shape for an error message: a client's shape may have a million dims, the message shows a few. */
function shapeText(shape: readonly unknown[]): string {
  return `[${shape.slice(0, 8).map(String).join(',')}${shape.length > 8 ? ',…' : ''}]`;
}

/**
 * The elements of `data` in row-major order. Flat data must hold exactly the shape's element count; nested
 * data must follow the shape level by level (no ragged rows, no leaf where a row belongs). The walk is
 * iterative and never deeper than the shape's rank, so hostile nesting costs neither stack nor time.
 */
export function flattenData(data: unknown, shape: readonly number[], name: string): unknown[] {
  if (!Array.isArray(data)) throw new InvalidInputError(`input ${echoed(name)}: data must be an array`);
  const count = shape.reduce((a, b) => a * b, 1);
  const described = `shape ${shapeText(shape)}`;
  if (!data.some(Array.isArray)) {
    if (data.length !== count) {
      throw new InvalidInputError(
        `input ${echoed(name)}: ${described} needs ${count} elements, got ${data.length}`,
      );
    }
    return data;
  }
  const rank = shape.length;
  const fits = (items: unknown[], depth: number) => {
    if (depth >= rank || items.length !== shape[depth]) {
      throw new InvalidInputError(
        `input ${echoed(name)}: nested data does not follow ${described} at depth ${depth} (${items.length} items)`,
      );
    }
    return { items, index: 0, depth };
  };
  const out: unknown[] = [];
  const stack = [fits(data, 0)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: unknown[]; index: number; depth: number };
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.index++];
    const leafLevel = top.depth === rank - 1;
    if (Array.isArray(item) === leafLevel) {
      throw new InvalidInputError(
        `input ${echoed(name)}: nested data does not follow ${described}: ` +
          (leafLevel ? `an array at depth ${rank}` : `a value at depth ${top.depth + 1}`),
      );
    }
    if (leafLevel) out.push(item);
    else stack.push(fits(item as unknown[], top.depth + 1));
  }
  return out;
}

/** What a numeric datatype can hold: a value outside is refused, never wrapped, clamped or made infinite. */
interface NumericRange {
  readonly integer: boolean;
  readonly min: number;
  /** Exclusive: the first value that no longer fits. */
  readonly end: number;
}

const int = (bits: number, signed: boolean): NumericRange =>
  signed
    ? { integer: true, min: -(2 ** (bits - 1)), end: 2 ** (bits - 1) }
    : { integer: true, min: 0, end: 2 ** bits };

// float32's overflow threshold: the halfway point above its largest finite value, which rounds to infinity.
const FLOAT32_OVERFLOW = 2 ** 128 - 2 ** 103;

const RANGES: Partial<Record<TensorDatatype, NumericRange>> = {
  BOOL: { integer: true, min: 0, end: 2 },
  UINT8: int(8, false),
  UINT16: int(16, false),
  UINT32: int(32, false),
  UINT64: int(64, false),
  INT8: int(8, true),
  INT16: int(16, true),
  INT32: int(32, true),
  INT64: int(64, true),
  FP16: { integer: false, min: -FLOAT16_OVERFLOW, end: FLOAT16_OVERFLOW },
  FP32: { integer: false, min: -FLOAT32_OVERFLOW, end: FLOAT32_OVERFLOW },
  FP64: { integer: false, min: -Number.MAX_VALUE, end: Number.POSITIVE_INFINITY },
};

/** The elements as numbers that fit `datatype` (booleans count as 0 and 1), or a 400 naming the first misfit. */
function numbers(values: unknown[], name: string, datatype: TensorDatatype): number[] {
  const range = RANGES[datatype] as NumericRange;
  return values.map((v, i) => {
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (range.integer && !Number.isInteger(n))) {
      throw new InvalidInputError(
        `input ${echoed(name)}: element ${i} is not a${range.integer ? 'n integer' : ' finite number'}`,
      );
    }
    if (n < range.min || n >= range.end) {
      throw new InvalidInputError(`input ${echoed(name)}: element ${i} is out of the range of ${datatype}`);
    }
    return n;
  });
}

/**
 * Turns one OIP JSON input into an onnxruntime tensor, checked against the model's declared spec.
 *
 * @param maxElements - most elements it may have (413 beyond, before its data is read).
 */
export function toOrtTensor(
  input: unknown,
  spec: TensorSpec | undefined,
  maxElements: number = MAX_TENSOR_ELEMENTS,
): ort.Tensor {
  if (typeof input !== 'object' || input === null)
    throw new InvalidInputError('each input must be an object');
  const { name, shape, datatype, data } = input as Record<string, unknown>;
  if (typeof name !== 'string' || !name) throw new InvalidInputError('an input has no "name"');
  if (!spec) throw new InvalidInputError(`model has no input ${echoed(name)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InvalidInputError(`input ${echoed(name)}: shape must be an array of non-negative integers`);
  }
  if (datatype !== spec.datatype) {
    throw new InvalidInputError(
      `input ${echoed(name)}: datatype must be ${spec.datatype}, got ${echoed(datatype)}`,
    );
  }
  if (shape.length !== spec.dims.length || spec.dims.some((d, i) => d !== -1 && d !== shape[i])) {
    throw new InvalidInputError(
      `input ${echoed(name)}: shape ${shapeText(shape)} does not fit [${spec.dims.join(',')}]`,
    );
  }
  const dims = shape as number[];
  // Each dim on its own too: [0, 2^40] has no elements, yet no tensor library should be handed that shape.
  const count = dims.reduce((a, b) => a * b, 1);
  const limit = Math.min(maxElements, MAX_TENSOR_ELEMENTS);
  if (count > limit || dims.some((d) => d > MAX_TENSOR_ELEMENTS))
    throw new PayloadTooLargeError(`input ${echoed(name)} has more than ${limit} elements`);
  const flat = flattenData(data, dims, name);
  switch (spec.datatype) {
    case 'FP32':
      return new ort.Tensor('float32', Float32Array.from(numbers(flat, name, 'FP32')), dims);
    case 'FP64':
      return new ort.Tensor('float64', Float64Array.from(numbers(flat, name, 'FP64')), dims);
    case 'FP16':
      return new ort.Tensor('float16', Uint16Array.from(numbers(flat, name, 'FP16'), toFloat16Bits), dims);
    case 'INT64':
      return new ort.Tensor('int64', BigInt64Array.from(numbers(flat, name, 'INT64'), BigInt), dims);
    case 'UINT64':
      return new ort.Tensor('uint64', BigUint64Array.from(numbers(flat, name, 'UINT64'), BigInt), dims);
    case 'INT32':
      return new ort.Tensor('int32', Int32Array.from(numbers(flat, name, 'INT32')), dims);
    case 'UINT32':
      return new ort.Tensor('uint32', Uint32Array.from(numbers(flat, name, 'UINT32')), dims);
    case 'INT16':
      return new ort.Tensor('int16', Int16Array.from(numbers(flat, name, 'INT16')), dims);
    case 'UINT16':
      return new ort.Tensor('uint16', Uint16Array.from(numbers(flat, name, 'UINT16')), dims);
    case 'INT8':
      return new ort.Tensor('int8', Int8Array.from(numbers(flat, name, 'INT8')), dims);
    case 'UINT8':
      return new ort.Tensor('uint8', Uint8Array.from(numbers(flat, name, 'UINT8')), dims);
    case 'BOOL':
      return new ort.Tensor('bool', Uint8Array.from(numbers(flat, name, 'BOOL')), dims);
    case 'BYTES':
      if (!flat.every((v) => typeof v === 'string'))
        throw new InvalidInputError(`input ${echoed(name)}: BYTES data must be strings`);
      return new ort.Tensor('string', flat as string[], dims);
  }
}

/** The OIP datatype of an onnxruntime output, or a 400 for a type OIP JSON cannot carry. */
function datatypeOf(name: string, tensor: ort.Tensor): TensorDatatype {
  const datatype = OIP_TYPES[tensor.type];
  if (!datatype)
    throw new InvalidInputError(`output "${name}" has a type (${tensor.type}) OIP JSON cannot carry`);
  return datatype;
}

/** Elements `[start, end)` of an onnxruntime tensor as JSON values. */
function jsonValues(tensor: ort.Tensor, start: number, end: number): unknown[] {
  const raw = tensor.data;
  if (Array.isArray(raw)) return raw.slice(start, end);
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array)
    return Array.from(raw.subarray(start, end), Number);
  const part = (raw as Exclude<typeof raw, string[] | BigInt64Array | BigUint64Array>).subarray(start, end);
  if (tensor.type === 'float16') return Array.from(part, fromFloat16Bits);
  if (tensor.type === 'bool') return Array.from(part, Boolean);
  return Array.from(part);
}

/** Turns an onnxruntime output into an OIP JSON tensor. */
export function fromOrtTensor(name: string, tensor: ort.Tensor): OipTensor {
  const datatype = datatypeOf(name, tensor);
  return { name, shape: [...tensor.dims], datatype, data: jsonValues(tensor, 0, tensor.size) };
}

/**
 * Elements serialised at a time before the event loop gets a turn: about 10 ms of `JSON.stringify` for
 * float32 values on one core (measured: 1 Mi elements, 19 MiB of JSON, took 150 ms in one go).
 */
const SERIALISE_CHUNK = 64 * 1024;

/** The head of an OIP infer response: everything but `outputs`. */
export interface InferResponseHead {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
}

/**
 * The JSON text of an OIP infer response, the same as `JSON.stringify({ ...head, outputs })` with each
 * output as {@link fromOrtTensor} gives it, but built a chunk of elements at a time with the event loop
 * let run between chunks, so that a large answer does not stall health checks and other requests, and
 * refused with a 413 as soon as it grows past `maxBytes` (UTF-8), before it is sent.
 *
 * @throws {PayloadTooLargeError} when the text would be longer than `maxBytes`.
 */
export async function inferResponseJson(
  head: InferResponseHead,
  outputs: readonly { readonly name: string; readonly tensor: ort.Tensor }[],
  maxBytes: number,
): Promise<string> {
  const parts: string[] = [];
  let bytes = 0;
  const add = (text: string) => {
    bytes += Buffer.byteLength(text);
    if (bytes > maxBytes) {
      throw new PayloadTooLargeError(
        `the response would be larger than the limit of ${maxBytes} bytes; ask for fewer outputs ("outputs") or a smaller input`,
      );
    }
    parts.push(text);
  };
  const total = outputs.reduce((sum, { tensor }) => sum + tensor.size, 0);
  add(`${JSON.stringify(head).slice(0, -1)}${Object.keys(head).length > 0 ? ',' : ''}"outputs":[`);
  for (const [i, { name, tensor }] of outputs.entries()) {
    const datatype = datatypeOf(name, tensor);
    add(
      `${i > 0 ? ',' : ''}${JSON.stringify({ name, shape: [...tensor.dims], datatype }).slice(0, -1)},"data":[`,
    );
    for (let start = 0; start < tensor.size; start += SERIALISE_CHUNK) {
      const end = Math.min(tensor.size, start + SERIALISE_CHUNK);
      add(`${start > 0 ? ',' : ''}${JSON.stringify(jsonValues(tensor, start, end)).slice(1, -1)}`);
      if (total > SERIALISE_CHUNK) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    add(']}');
  }
  add(']}');
  return parts.join('');
}
