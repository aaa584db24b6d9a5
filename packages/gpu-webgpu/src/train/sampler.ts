/**
 * Seeded batch order: epochs of Fisher–Yates permutations of the training
 * rows. When the whole set fits in one batch every step sees all of it.
 */
import { seededUniform } from "../model/init.ts"

export const batchSampler = (count: number, batchSize: number, seed: number): (() => ReadonlyArray<number>) => {
  if (count <= batchSize) {
    const all = Array.from({ length: count }, (_, i) => i)
    return () => all
  }
  const u = seededUniform(seed ^ 0x5bd1e995)
  let perm: Array<number> = []
  let at = count
  return () => {
    const out: Array<number> = []
    while (out.length < batchSize) {
      if (at >= count) {
        perm = Array.from({ length: count }, (_, i) => i)
        for (let i = count - 1; i > 0; i--) {
          const j = Math.floor(u() * (i + 1))
          const t = perm[i]
          perm[i] = perm[j]
          perm[j] = t
        }
        at = 0
      }
      out.push(perm[at++])
    }
    return out
  }
}
