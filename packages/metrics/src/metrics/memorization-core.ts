/**
 * Per-sample memorization estimates in bits (Morris et al. 2025, definitions of unintended memorization), pure.
 *
 * - total (synthetic, exact entropy H known): mem(x) = max(0, H − L(x|θ̂))
 * - unintended against reference θ: memU(x) = max(0, L(x|θ) − L(x|θ̂))
 *
 * With uniform synthetic data the reference is the data-generating process,
 * whose code length is H for every x, so the two coincide.
 */

export const totalMemorization = (entropyBits: number, codeLengths: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(codeLengths.length)
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, entropyBits - codeLengths[i])
  return out
}

export const unintendedMemorization = (referenceCodeLengths: ArrayLike<number>, codeLengths: ArrayLike<number>): Float64Array => {
  if (referenceCodeLengths.length !== codeLengths.length) {
    throw new RangeError(`unintendedMemorization: ${referenceCodeLengths.length} reference lengths vs ${codeLengths.length} model lengths`)
  }
  const out = new Float64Array(codeLengths.length)
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, referenceCodeLengths[i] - codeLengths[i])
  return out
}
