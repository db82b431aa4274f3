import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FLOAT16_MAX,
  FLOAT16_OVERFLOW,
  fromFloat16Bits,
  toFloat16Bits,
} from '../../functions/core/float16.ts';

const isNanBits = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;

describe('float16', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [FLOAT16_MAX, 0x7bff],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [2 ** -14 - 2 ** -24, 0x03ff],
    [0, 0x0000],
    [-0, 0x8000],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
  ])('encodes %s as its exact pattern', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
    expect(Object.is(fromFloat16Bits(bits), value)).toBe(true);
  });

  it.each([
    // 2049 lies halfway between 2048 (even mantissa) and 2050 (odd): the tie goes to 2048.
    [2049, 0x6800],
    // 2051 lies halfway between 2050 (odd) and 2052 (even): the tie goes to 2052.
    [2051, 0x6802],
    [1 / 3, 0x3555],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    // The tie between zero and the smallest subnormal goes to zero; a hair above it, to the subnormal.
    [2 ** -25, 0x0000],
    [2 ** -25 + 2 ** -40, 0x0001],
    [3 * 2 ** -25, 0x0002],
    [-(2 ** -25), 0x8000],
    // A mantissa that rounds up carries into the exponent.
    [2 - 2 ** -12, 0x4000],
    // The largest subnormal rounds up into the smallest normal.
    [2 ** -14 - 2 ** -26, 0x0400],
  ])('rounds %s to the nearest half, ties to even', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
  });

  it('rounds once from the double, not through float32 first', () => {
    // Just above the tie 2049: a float32 rounds it onto the tie itself, which then goes down to 2048.
    const value = 2049 + 2 ** -20;
    expect(Math.fround(value)).toBe(2049);

    expect(toFloat16Bits(value)).toBe(0x6801);
  });

  it('overflows to infinity from 65520 up and keeps 65519 finite', () => {
    expect(toFloat16Bits(FLOAT16_OVERFLOW)).toBe(0x7c00);
    expect(toFloat16Bits(-FLOAT16_OVERFLOW)).toBe(0xfc00);
    expect(toFloat16Bits(65519.99)).toBe(0x7bff);
    expect(toFloat16Bits(1e300)).toBe(0x7c00);
  });

  it('keeps NaN a NaN both ways', () => {
    expect(isNanBits(toFloat16Bits(Number.NaN))).toBe(true);
    expect(fromFloat16Bits(0x7e00)).toBeNaN();
    expect(fromFloat16Bits(0xfc01)).toBeNaN();
  });

  it('gives back every one of the 65536 patterns after a round trip (NaNs as a NaN)', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const back = toFloat16Bits(fromFloat16Bits(bits));
      if (isNanBits(bits) ? !isNanBits(back) : back !== bits) wrong.push(bits);
    }

    expect(wrong).toEqual([]);
  });

  it('encodes any number as a nearest half, with ties on the even one', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.double({ min: -70000, max: 70000, noNaN: true }), fc.double({ noNaN: true })),
        (value) => {
          const bits = toFloat16Bits(value);
          const here = fromFloat16Bits(bits);
          if (Math.abs(value) >= FLOAT16_OVERFLOW)
            return here === Math.sign(value) * Number.POSITIVE_INFINITY;
          // The neighbours one pattern away on either side (from +-0 the neighbour below is the other sign).
          const magnitude = bits & 0x7fff;
          const sign = bits & 0x8000;
          const up = fromFloat16Bits(sign | (magnitude + 1));
          const down = magnitude === 0 ? -fromFloat16Bits(sign | 1) : fromFloat16Bits(sign | (magnitude - 1));
          const error = Math.abs(value - here);
          for (const other of [up, down]) {
            const otherError = Math.abs(value - other);
            if (otherError < error) return false;
            if (otherError === error && (bits & 1) === 1) return false;
          }
          return Object.is(value, -0) || value === 0 ? here === 0 : Math.sign(here) !== -Math.sign(value);
        },
      ),
      { seed: 16, numRuns: 20_000 },
    );
  });
});
