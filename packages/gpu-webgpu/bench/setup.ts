/**
 * The model shape and training settings the trainer benchmarks share, so each
 * measures the same thing: GPT-2 with one head per 16 channels, Adam at a
 * constant lr 1e-3, clip 1, no weight decay.
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
