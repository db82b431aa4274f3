import * as ort from 'onnxruntime-node';
import { InvalidInputError, PayloadTooLargeError } from '../errors.ts';
import type { TensorDatatype, TensorSpec } from '../model-store/manifest.ts';

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

/** Most elements one request may send or receive, to keep a bad request from exhausting memory. */
export const MAX_TENSOR_ELEMENTS = 32 * 1024 * 1024;

/** Flattens nested (row-major) data iteratively; rejects non-arrays and absurd nesting. */
export function flattenData(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) throw new InvalidInputError(`input "${name}": data must be an array`);
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const stack: { items: unknown[]; index: number }[] = [{ items: data, index: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: unknown[]; index: number };
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.index++];
    if (Array.isArray(item)) {
      if (stack.length > 32) throw new InvalidInputError(`input "${name}": data is nested too deeply`);
      stack.push({ items: item, index: 0 });
    } else out.push(item);
  }
  return out;
}

function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00 | (((bits >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
  if (exp <= 0) return exp < -10 ? sign : sign | ((mant | 0x800000) >> (1 - exp + 13));
  return sign | (exp << 10) | (mant >> 13);
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

function numbers(values: unknown[], name: string, integer: boolean): number[] {
  return values.map((v, i) => {
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new InvalidInputError(
        `input "${name}": element ${i} is not a${integer ? 'n integer' : ' finite number'}`,
      );
    }
    return n;
  });
}

/** Turns one OIP JSON input into an onnxruntime tensor, checked against the model's declared spec. */
export function toOrtTensor(input: unknown, spec: TensorSpec | undefined): ort.Tensor {
  if (typeof input !== 'object' || input === null)
    throw new InvalidInputError('each input must be an object');
  const { name, shape, datatype, data } = input as Record<string, unknown>;
  if (typeof name !== 'string' || !name) throw new InvalidInputError('an input has no "name"');
  if (!spec) throw new InvalidInputError(`model has no input "${name}"`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InvalidInputError(`input "${name}": shape must be an array of non-negative integers`);
  }
  if (datatype !== spec.datatype) {
    throw new InvalidInputError(
      `input "${name}": datatype must be ${spec.datatype}, got ${String(datatype)}`,
    );
  }
  if (shape.length !== spec.dims.length || spec.dims.some((d, i) => d !== -1 && d !== shape[i])) {
    throw new InvalidInputError(
      `input "${name}": shape [${shape.join(',')}] does not fit [${spec.dims.join(',')}]`,
    );
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (count > MAX_TENSOR_ELEMENTS)
    throw new PayloadTooLargeError(`input "${name}" has more than ${MAX_TENSOR_ELEMENTS} elements`);
  const flat = flattenData(data, name);
  if (flat.length !== count) {
    throw new InvalidInputError(
      `input "${name}": shape [${shape.join(',')}] needs ${count} elements, got ${flat.length}`,
    );
  }
  const dims = shape as number[];
  switch (spec.datatype) {
    case 'FP32':
      return new ort.Tensor('float32', Float32Array.from(numbers(flat, name, false)), dims);
    case 'FP64':
      return new ort.Tensor('float64', Float64Array.from(numbers(flat, name, false)), dims);
    case 'FP16':
      return new ort.Tensor('float16', Uint16Array.from(numbers(flat, name, false), toHalf), dims);
    case 'INT64':
      return new ort.Tensor('int64', BigInt64Array.from(numbers(flat, name, true), BigInt), dims);
    case 'UINT64':
      return new ort.Tensor('uint64', BigUint64Array.from(numbers(flat, name, true), BigInt), dims);
    case 'INT32':
      return new ort.Tensor('int32', Int32Array.from(numbers(flat, name, true)), dims);
    case 'UINT32':
      return new ort.Tensor('uint32', Uint32Array.from(numbers(flat, name, true)), dims);
    case 'INT16':
      return new ort.Tensor('int16', Int16Array.from(numbers(flat, name, true)), dims);
    case 'UINT16':
      return new ort.Tensor('uint16', Uint16Array.from(numbers(flat, name, true)), dims);
    case 'INT8':
      return new ort.Tensor('int8', Int8Array.from(numbers(flat, name, true)), dims);
    case 'UINT8':
      return new ort.Tensor('uint8', Uint8Array.from(numbers(flat, name, true)), dims);
    case 'BOOL':
      return new ort.Tensor(
        'bool',
        Uint8Array.from(numbers(flat, name, true), (v) => (v ? 1 : 0)),
        dims,
      );
    case 'BYTES':
      if (!flat.every((v) => typeof v === 'string'))
        throw new InvalidInputError(`input "${name}": BYTES data must be strings`);
      return new ort.Tensor('string', flat as string[], dims);
  }
}

/** Turns an onnxruntime output into an OIP JSON tensor. */
export function fromOrtTensor(name: string, tensor: ort.Tensor): OipTensor {
  const datatype = OIP_TYPES[tensor.type];
  if (!datatype)
    throw new InvalidInputError(`output "${name}" has a type (${tensor.type}) OIP JSON cannot carry`);
  const raw = tensor.data;
  let data: unknown[];
  if (tensor.type === 'float16') data = Array.from(raw as Uint16Array, fromHalf);
  else if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) data = Array.from(raw, Number);
  else if (tensor.type === 'bool') data = Array.from(raw as Uint8Array, Boolean);
  else data = Array.from(raw as ArrayLike<unknown>);
  return { name, shape: [...tensor.dims], datatype, data };
}
