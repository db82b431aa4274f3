/**
 * IEEE 754 binary16 ("half precision", float16) as the 16-bit patterns that onnxruntime's `float16`
 * tensors hold (a `Uint16Array`), converted to and from JavaScript numbers. The one codec of the project:
 * OIP FP16 tensors and the text model's float16 scales both go through it, so a value has one half
 * whichever door it came in by.
 */

/** The largest finite float16, `0x7bff`. */
export const FLOAT16_MAX = 65504;

/**
 * Magnitudes from here up round to infinity: the halfway point between {@link FLOAT16_MAX} and 2^16,
 * where the tie goes to the even neighbour, which is infinity (65504's last mantissa bit is odd).
 */
export const FLOAT16_OVERFLOW = 65520;

const POSITIVE_INFINITY_BITS = 0x7c00;
/** The canonical quiet NaN. A JavaScript NaN carries no payload a program can rely on, so none is kept. */
const NAN_BITS = 0x7e00;

/** `x` (non-negative) rounded to an integer, ties to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor; // exact: x < 2^11 here, far inside a double's 53 bits
  return rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}

/** The exponent `e` with `2^e <= a < 2^(e+1)`, for a positive finite `a`; `log2` alone may be off by one. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * The float16 nearest to `value`, as its bit pattern, rounding to nearest with ties to even (as IEEE 754
 * and onnxruntime's `Cast` do). Magnitudes from {@link FLOAT16_OVERFLOW} up become infinity, those below
 * 2^-14 become subnormals (down to 2^-24) or zero, the sign of zero is kept, and NaN stays NaN.
 *
 * The number is rounded once, straight from its double value: going through a float32 first would round
 * twice and can land on the wrong side of a tie.
 *
 * @example
 * ```ts
 * toFloat16Bits(1); // 0x3c00
 * toFloat16Bits(2049); // 0x6800 (2048: the tie goes to the even mantissa)
 * ```
 */
export function toFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return NAN_BITS;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= FLOAT16_OVERFLOW) return sign | POSITIVE_INFINITY_BITS;
  if (a < 2 ** -14) {
    // Subnormal: a count of 2^-24 units. A count of 1024 is the pattern of the smallest normal, 2^-14.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  const e = exponentOf(a);
  // a * 2^(10-e) lies in [1024, 2048): the implicit bit and ten mantissa bits. Scaling by a power of two is
  // exact, and a mantissa that rounds up to 2048 carries into the exponent through the addition.
  const m = roundHalfEven(a * 2 ** (10 - e));
  return sign | (((e + 15) << 10) + m - 1024);
}

/**
 * The value of a float16 bit pattern (only the low 16 bits of `bits` are read).
 *
 * @example
 * ```ts
 * fromFloat16Bits(0x3c00); // 1
 * fromFloat16Bits(0x0001); // 2 ** -24
 * ```
 */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}
