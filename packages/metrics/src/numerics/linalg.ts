/**
 * Dense linear algebra for the tiny systems the fits need (2–4 unknowns):
 * Gauss–Jordan elimination with partial pivoting, float64 throughout.
 * Matrices are row-major Float64Arrays of n×n.
 */

/** Solves A·x = b; returns undefined when A is singular to working precision. */
export const solve = (a: Float64Array, b: Float64Array, n: number): Float64Array | undefined => {
  const inv = invert(a, n)
  if (inv === undefined) return undefined
  const x = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let j = 0; j < n; j++) s += inv[i * n + j] * b[j]
    x[i] = s
  }
  return x
}

/** Inverse of an n×n matrix, or undefined when it is singular to working precision. */
export const invert = (a: Float64Array, n: number): Float64Array | undefined => {
  const m = Float64Array.from(a)
  const inv = new Float64Array(n * n)
  for (let i = 0; i < n; i++) inv[i * n + i] = 1
  let scale = 0
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]))
  if (scale === 0 || !Number.isFinite(scale)) return undefined
  for (let col = 0; col < n; col++) {
    let piv = col
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[piv * n + col])) piv = r
    const p = m[piv * n + col]
    if (Math.abs(p) <= scale * 1e-300 || !Number.isFinite(p) || p === 0) return undefined
    if (piv !== col) {
      for (let j = 0; j < n; j++) {
        ;[m[col * n + j], m[piv * n + j]] = [m[piv * n + j], m[col * n + j]]
        ;[inv[col * n + j], inv[piv * n + j]] = [inv[piv * n + j], inv[col * n + j]]
      }
    }
    for (let j = 0; j < n; j++) {
      m[col * n + j] /= p
      inv[col * n + j] /= p
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue
      const f = m[r * n + col]
      if (f === 0) continue
      for (let j = 0; j < n; j++) {
        m[r * n + j] -= f * m[col * n + j]
        inv[r * n + j] -= f * inv[col * n + j]
      }
    }
  }
  for (let i = 0; i < n * n; i++) if (!Number.isFinite(inv[i])) return undefined
  return inv
}
