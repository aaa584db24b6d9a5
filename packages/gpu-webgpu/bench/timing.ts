/**
 * One model's training and evaluation speed on the process's WebGPU adapter,
 * as the trainer benches measure it: a fresh engine from seeded weights, two
 * warm-up steps (pipelines compiled, plan built), then `steps` timed steps
 * with the loss read back once at the end, timed with performance.now()
 * (trainLoop's own wall time counts whole milliseconds), then one timed
 * evaluation of the batch's sequences after a warm-up one.
 */
import { Effect } from "effect"
import type { Precision } from "../src/kernels/common.ts"
import type { MatmulTile } from "../src/kernels/matmul.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTokens, benchTrainOptions } from "./setup.ts"

export interface BenchConfig {
  readonly V: number
  readonly S: number
  readonly L: number
  readonly d: number
  readonly batch: number
}

export interface TrainingSpeed {
  readonly params: number
  readonly tokensPerSecond: number
  readonly msPerStep: number
  readonly evalSequencesPerSecond: number
}

export const configName = (c: BenchConfig) => `V=${c.V} S=${c.S} L=${c.L} d=${c.d} B=${c.batch}`

/** "V,S,L,d,B" as a config; the flag is named in the error. */
export const parseConfig = (flag: string, text: string): BenchConfig => {
  const n = text.split(",").map(Number)
  if (n.length !== 5 || !n.every((x) => Number.isInteger(x) && x > 0)) {
    throw new Error(`${flag}: "${text}" is not V,S,L,d,B (five positive integers)`)
  }
  const [V, S, L, d, batch] = n as [number, number, number, number, number]
  return { V, S, L, d, batch }
}

export const timeTraining = (
  c: BenchConfig,
  kernels: { readonly precision: Precision; readonly tile: MatmulTile; readonly fuseGelu: boolean },
  steps: number
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const engine = yield* makeGpuGpt2Engine(initGpt2Weights(benchShape(c), 0), kernels)
      const count = c.batch * 4
      const data = { tokens: benchTokens(count * c.S, c.V, 1), count, seqLen: c.S }
      const opts = benchTrainOptions(c.batch, steps)
      yield* trainLoop(engine, data, { ...opts, maxSteps: 2 }, () => Effect.void)
      const started = performance.now()
      yield* trainLoop(engine, data, { ...opts, maxSteps: steps }, () => Effect.void)
      const ms = performance.now() - started
      const seqs = { vocabSize: c.V, seqLen: c.S, count, tokens: data.tokens }
      yield* engine.codeLengths(seqs) // builds the evaluation plan
      const t0 = performance.now()
      yield* engine.codeLengths(seqs)
      const evalSeconds = (performance.now() - t0) / 1000
      return {
        params: engine.paramCount,
        tokensPerSecond: (steps * c.batch * c.S) / (ms / 1000),
        msPerStep: ms / steps,
        evalSequencesPerSecond: count / evalSeconds
      } satisfies TrainingSpeed
    })
  )
