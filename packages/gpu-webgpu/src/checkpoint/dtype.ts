/**
 * Floating-point element conversions for checkpoints: F16 and BF16 (stored as
 * raw 16-bit patterns) to and from Float32. Pure functions on bit patterns, so
 * they are testable bit by bit and independent of any file format.
 */

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** BF16 is the upper half of an IEEE binary32: decoding is a shift. */
export const bf16BitsToF32 = (bits: number): number => {
  u32[0] = (bits & 0xffff) << 16
  return f32[0]
}

/**
 * Float32 → BF16 bit pattern, rounding to nearest with ties to even (what
 * PyTorch's `.to(torch.bfloat16)` does). NaN stays a (quiet) NaN: adding the
 * rounding bias to a NaN could carry it into an infinity.
 */
export const f32ToBf16Bits = (x: number): number => {
  f32[0] = x
  const bits = u32[0]
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x0040) & 0xffff
  const lsb = (bits >>> 16) & 1
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff
}

/** IEEE binary16 → number, subnormals, infinities and NaN included. */
export const f16BitsToF32 = (bits: number): number => {
  const sign = bits & 0x8000 ? -1 : 1
  const exp = (bits >>> 10) & 0x1f
  const mant = bits & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** Decodes a whole BF16 array (host byte order = little endian, checked by the reader). */
export const bf16ArrayToF32 = (src: Uint16Array): Float32Array => {
  const out = new Float32Array(src.length)
  const outBits = new Uint32Array(out.buffer)
  for (let i = 0; i < src.length; i++) outBits[i] = src[i] << 16
  return out
}

/** Decodes a whole F16 array through a 65,536-entry table (cheap for large tensors). */
let f16Table: Float32Array | undefined
export const f16ArrayToF32 = (src: Uint16Array): Float32Array => {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536)
    for (let b = 0; b < 65536; b++) f16Table[b] = f16BitsToF32(b)
  }
  const table = f16Table
  const out = new Float32Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]]
  return out
}

export const f32ArrayToBf16 = (src: Float32Array): Uint16Array => {
  const out = new Uint16Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i])
  return out
}
