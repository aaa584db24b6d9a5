/** Seeded host-side randomness of the trainer (batch order) and GPT-2 initialisation. */

/** splitmix64-style 32-bit generator (mulberry32), seeded. */
export const seededUniform = (seed: number): (() => number) => {
  let a = (seed * 0x9e3779b1) >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * GPT-2 initialisation lives in one place: the documented, counter-based
 * (Philox4x32-10, one stream per tensor) version beside the float64
 * reference model, so trainer, checkpoints and tests draw identical weights.
 */
export { initGpt2Weights } from "../reference/gpt2-init.ts"
