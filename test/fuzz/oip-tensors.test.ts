import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError } from '../../functions/core/errors.ts';
import { fromFloat16Bits, toFloat16Bits } from '../../functions/core/float16.ts';
import { MAX_TENSOR_ELEMENTS, toOrtTensor } from '../../functions/core/http/oip-tensors.ts';
import { TensorDatatype, type TensorSpec } from '../../functions/core/model-store/manifest.ts';
import { elapsedMs, expectClientError, FUZZ_SEED, fuzzRuns, resultOrRefusal } from './fuzz-support.ts';

const DATATYPES = TensorDatatype.options;

/** What the tensor should hold for an accepted JSON element: the number as that type stores it. */
function stored(datatype: TensorDatatype, value: unknown): unknown {
  if (datatype === 'BYTES') return value;
  const n = Number(value);
  if (datatype === 'FP16') return fromFloat16Bits(toFloat16Bits(n));
  if (datatype === 'FP32') return Math.fround(n);
  if (datatype === 'INT64' || datatype === 'UINT64') return BigInt(n);
  if (datatype === 'FP64') return n;
  return n + 0; // integer arrays hold no -0
}

/** Reads element `i` of an accepted tensor back as a number (or string, or bigint). */
function element(datatype: TensorDatatype, data: unknown, i: number): unknown {
  const value = (data as ArrayLike<unknown>)[i];
  return datatype === 'FP16' ? fromFloat16Bits(value as number) : value;
}

/** Nests flat data by `shape`, as a client sending nested OIP data would. */
function nest(flat: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return flat;
  const [, ...rest] = shape;
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] as number }, (_, i) =>
    nest(flat.slice(i * size, (i + 1) * size), rest),
  );
}

const anyElement = fc.oneof(
  fc.integer({ min: -300, max: 300 }),
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    255,
    256,
    -129,
    65504,
    65519,
    65520,
    2 ** 31,
    2 ** 32,
    2 ** 63,
    -(2 ** 63),
    1e39,
  ),
  fc.boolean(),
  fc.string({ maxLength: 3 }),
  fc.constant(null),
);

/** A spec and an input that may or may not fit it: shapes against data lengths, types, nesting. */
const oipCase = fc
  .record({
    datatype: fc.constantFrom(...DATATYPES),
    givenSame: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)),
    given: fc.oneof(fc.constantFrom(...DATATYPES), fc.string({ maxLength: 5 })),
    spec: fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 4 })), { maxLength: 4 }),
    shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -2, max: 2 ** 40 })), {
      maxLength: 4,
    }),
    sameShapeAsSpec: fc.boolean(),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -2, max: 2 })),
    nested: fc.boolean(),
    values: fc.array(anyElement, { maxLength: 80 }),
    name: fc.oneof(
      { weight: 8, arbitrary: fc.constant('x') },
      fc.string({ maxLength: 3 }),
      fc.constant(undefined),
    ),
    // Values of the one kind the datatype takes, so that most cases reach the range checks.
    pure: fc.boolean(),
  })
  .map((c) => {
    const datatype = c.datatype;
    const given = c.givenSame ? datatype : c.given;
    // Half the time the shape fits the spec, so the fuzzing reaches the data and not only the shape checks.
    const shape = c.sameShapeAsSpec ? c.spec.map((d, i) => (d === -1 ? (c.shape[i] ?? 2) % 5 : d)) : c.shape;
    const count = shape.every((d) => d >= 0) ? shape.reduce((a, b) => a * b, 1) : 0;
    const wanted = Math.max(0, Math.min(count, 400) + c.extra);
    const kind = datatype === 'BYTES' ? 'string' : 'number';
    const values = c.pure ? c.values.filter((v) => typeof v === kind) : c.values;
    const pool = values.length ? values : [kind === 'string' ? 'a' : 0];
    const flat = Array.from({ length: wanted }, (_, i) => pool[i % pool.length]);
    const small = count <= 400 && shape.every((d) => d >= 0 && d <= 400);
    const data = c.nested && small && wanted === count ? nest(flat, shape) : flat;
    const spec: TensorSpec = { name: 'x', datatype, dims: c.spec };
    return { spec, input: { name: c.name, shape, datatype: given, data }, flat };
  });

describe('OIP tensor parser under fuzzing', () => {
  it('turns any OIP-shaped input into the tensor it describes, or refuses it with a client error', () => {
    fc.assert(
      fc.property(oipCase, ({ spec, input, flat }) => {
        let tensor: ReturnType<typeof toOrtTensor> | undefined;
        const ms = elapsedMs(() => {
          tensor = resultOrRefusal(() => toOrtTensor(input, input.name === 'x' ? spec : undefined));
        });
        expect(ms).toBeLessThan(500);
        if (!tensor) return;
        expect(tensor.dims).toEqual(input.shape);
        expect(tensor.data.length).toBe(flat.length);
        // Every element as the datatype stores it: nothing wrapped, clamped or turned into infinity.
        for (let i = 0; i < flat.length; i++) {
          expect(element(spec.datatype, tensor.data, i)).toEqual(stored(spec.datatype, flat[i]));
        }
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(3000) },
    );
  });

  it('refuses a huge declared shape with 413 before reading or allocating its data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2 ** 31 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(...DATATYPES),
        (shape, datatype) => {
          fc.pre(shape.reduce((a, b) => a * b, 1) > MAX_TENSOR_ELEMENTS);
          const spec: TensorSpec = { name: 'x', datatype, dims: shape.map(() => -1) };
          // Data that would take gigabytes if the parser sized anything by the shape before refusing it.
          const before = process.memoryUsage().arrayBuffers;

          expect(() => toOrtTensor({ name: 'x', shape, datatype, data: [1] }, spec)).toThrow(
            PayloadTooLargeError,
          );
          expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
        },
      ),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
    );
  });

  it('refuses hostile nesting quickly and without exhausting the stack', () => {
    let deep: unknown = [1];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const spec: TensorSpec = { name: 'x', datatype: 'FP32', dims: [-1, -1] };

    const ms = elapsedMs(() => {
      try {
        toOrtTensor({ name: 'x', shape: [1, 1], datatype: 'FP32', data: deep }, spec);
        expect.fail('accepted 100 000 levels of nesting');
      } catch (error) {
        expectClientError(error);
      }
    });

    expect(ms).toBeLessThan(200);
  });

  // Defects the property above found; each was accepted and silently changed before the fix.
  it.each([
    ['an INT8 value beyond 127 (was wrapped to 44)', 'INT8', [1], [300]],
    ['a negative UINT8 (was wrapped to 255)', 'UINT8', [1], [-1]],
    ['an INT64 of 2^63 (was wrapped to -2^63)', 'INT64', [1], [2 ** 63]],
    ['a UINT32 of 2^32 (was wrapped to 0)', 'UINT32', [1], [2 ** 32]],
    ['an FP32 of 1e39 (was made infinite)', 'FP32', [1], [1e39]],
    ['an FP16 of 65520 (was made infinite)', 'FP16', [1], [65520]],
    ['a BOOL of 5 (was taken as true)', 'BOOL', [1], [5]],
    [
      'ragged nested data with the right count (was flattened as if it fitted)',
      'FP32',
      [2, 2],
      [[1, 2, 3], [4]],
    ],
    ['nested data whose depth is not the rank', 'FP32', [2], [[1], [2]]],
  ] as const)('refuses %s with 400', (_label, datatype, shape, data) => {
    const spec: TensorSpec = { name: 'x', datatype, dims: shape.map(() => -1) };

    expect(() => toOrtTensor({ name: 'x', shape: [...shape], datatype, data }, spec)).toThrow(
      expect.objectContaining({ status: 400 }),
    );
  });

  it('refuses an empty shape whose other dim is absurd (was handed to onnxruntime as is)', () => {
    const spec: TensorSpec = { name: 'x', datatype: 'FP32', dims: [-1, -1] };

    expect(() => toOrtTensor({ name: 'x', shape: [0, 2 ** 40], datatype: 'FP32', data: [] }, spec)).toThrow(
      PayloadTooLargeError,
    );
  });
});

describe('OIP FP16 inputs', () => {
  it('hold the bits of float16.ts’s round to nearest even, not a truncation', () => {
    // value -> the float16 bits it must become; each a case where truncating the mantissa gives other bits.
    const cases: [number, number][] = [
      [2049, 0x6800], // a tie: to the even neighbour 2048
      [2051, 0x6802], // a tie: to the even neighbour 2052 (truncation: 2050)
      [2050.9, 0x6801], // nearer 2050 than 2052
      [1 + 3 * 2 ** -11, 0x3c02], // a tie between 1+2^-10 and 1+2^-9: to the even one
      [1 + 2 ** -10 - 2 ** -20, 0x3c01], // just below 1+2^-10: up to it (truncation: 1)
      [-2051, 0xe802],
      [3 * 2 ** -25, 0x0002], // subnormal tie: to the even count of 2^-24
      [2 ** -25, 0x0000], // half the smallest subnormal: to zero (even)
      [65519, 0x7bff], // below the overflow threshold: the largest finite float16
    ];
    const input = {
      name: 'x',
      shape: [cases.length],
      datatype: 'FP16' as const,
      data: cases.map(([v]) => v),
    };

    const tensor = toOrtTensor(input, { name: 'x', datatype: 'FP16', dims: [-1] });

    expect(tensor.type).toBe('float16');
    expect(Array.from(tensor.data as Uint16Array)).toEqual(cases.map(([, bits]) => bits));
    expect(Array.from(tensor.data as Uint16Array)).toEqual(cases.map(([v]) => toFloat16Bits(v)));
  });
});
