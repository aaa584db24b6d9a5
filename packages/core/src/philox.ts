/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011; the generator of Random123, cuRAND, JAX and NumPy's `Philox`).
 *
 * A counter-based generator: the output is a pure function of a 128-bit
 * counter and a 64-bit key, so any sample can be computed without generating
 * the ones before it, identically on every platform (32-bit integer math only,
 * no floating point). Checked against Random123's known-answer vectors in the
 * tests.
 *
 * One round, with counter words (c0, c1, c2, c3) and key (k0, k1):
 *   (hi0, lo0) = 0xD2511F53 * c0      (full 64-bit product)
 *   (hi1, lo1) = 0xCD9E8D57 * c2
 *   c' = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * then the key is bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85).
 * Ten rounds; the first uses the key as given.
 */

const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers. */
const mulhi = (a: number, b: number): number => {
  const aLo = a & 0xffff
  const aHi = a >>> 16
  const bLo = b & 0xffff
  const bHi = b >>> 16
  const lolo = aLo * bLo
  const hilo = aHi * bLo
  const lohi = aLo * bHi
  const hihi = aHi * bHi
  // Carry from the middle terms into the high word (all sums stay below 2^53).
  const mid = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff)
  return (hihi + (hilo >>> 16) + (lohi >>> 16) + Math.floor(mid / 0x10000)) >>> 0
}

/**
 * Philox4x32-10 of counter (c0..c3) under key (k0, k1); writes the four output
 * words into `out` (which may be reused between calls to avoid allocation).
 */
export const philox4x32 = (c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): Uint32Array => {
  let x0 = c0 >>> 0,
    x1 = c1 >>> 0,
    x2 = c2 >>> 0,
    x3 = c3 >>> 0
  let key0 = k0 >>> 0,
    key1 = k1 >>> 0
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, x0)
    const lo0 = Math.imul(M0, x0) >>> 0
    const hi1 = mulhi(M1, x2)
    const lo1 = Math.imul(M1, x2) >>> 0
    x0 = (hi1 ^ x1 ^ key0) >>> 0
    x1 = lo1
    x2 = (hi0 ^ x3 ^ key1) >>> 0
    x3 = lo0
    key0 = (key0 + W0) >>> 0
    key1 = (key1 + W1) >>> 0
  }
  out[0] = x0
  out[1] = x1
  out[2] = x2
  out[3] = x3
  return out
}
