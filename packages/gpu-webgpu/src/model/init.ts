/** Seeded host-side randomness of the trainer (batch order) and GPT-2 initialisation. */
import { mulberry32 } from "@memorize/core"

/** The trainer's seeded generator (batch order): mulberry32 from core, seed spread by the golden ratio. */
export const seededUniform = (seed: number): (() => number) => mulberry32(Math.imul(seed, 0x9e3779b1))

/**
 * GPT-2 initialisation lives in one place: the documented, counter-based
 * (Philox4x32-10, one stream per tensor) version beside the float64
 * reference model, so trainer, checkpoints and tests draw identical weights.
 */
export { initGpt2Weights } from "../reference/gpt2-init.ts"
