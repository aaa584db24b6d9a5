/** A seeded Fisher–Yates permutation (mulberry32, from core), so subsets are reproducible from the run seed. */
import { mulberry32 } from "@memorize/core"

export { mulberry32 }

export const permutation = (n: number, seed: number): Uint32Array => {
  const rnd = mulberry32(seed)
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    const t = p[i]
    p[i] = p[j]
    p[j] = t
  }
  return p
}
