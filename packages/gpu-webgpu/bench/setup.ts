/**
 * The model shape, training settings and data the trainer benchmarks share,
 * so each measures the same thing: GPT-2 with one head per 16 channels, Adam
 * at a constant lr 1e-3, clip 1, no weight decay, on seeded uniform tokens.
 */
import type { Gpt2Shape } from "../src/model/weights.ts"

export const benchShape = (c: { readonly V: number; readonly S: number; readonly L: number; readonly d: number }): Gpt2Shape => ({
  vocabSize: c.V,
  nPositions: c.S,
  layers: c.L,
  dModel: c.d,
  heads: Math.max(1, c.d / 16),
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead: true
})

/** trainLoop's options but maxSteps, for micro-batches of `batchSize`, logging every `logEvery` steps. */
export const benchTrainOptions = (batchSize: number, logEvery: number) => ({
  batchSize,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  warmupSteps: 0,
  schedule: "constant" as const,
  gradClip: 1,
  stop: {},
  logEvery,
  seed: 0
})

/** Prints a table: columns as wide as their widest cell, the first `left` left-aligned, the rest right-aligned; a blank line after. */
export const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>, left = 0): void => {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  for (const r of cells) console.log(r.map((c, i) => (i < left ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "))
  console.log()
}

/** n tokens below V from a seeded linear congruential generator (the same data for a given seed, in every bench). */
export const benchTokens = (n: number, V: number, seed: number): Uint32Array => {
  let a = seed >>> 0
  return Uint32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0
    return a % V
  })
}
