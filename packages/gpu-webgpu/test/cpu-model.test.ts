/**
 * The native CPU GPT-2 as a whole: evaluation against the float64 reference
 * model, the cross-check with WebGPU (a model trained on one backend gives
 * the same code lengths on the other, within 1e-4 relative), next-token
 * logits that do not depend on later tokens (bit for bit, on both backends),
 * and an allocation failure reported as an error naming the sizes.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import type { Gpt2Model } from "../src/model/evaluation.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import type { Gpt2Shape } from "../src/model/weights.ts"
import { referenceCodeLengths, referenceTokenLogProbs } from "../src/reference/gpt2.ts"
import { trainLoop } from "../src/train/loop.ts"
import { expectClose, randInts } from "./helpers.ts"

const V = 24
const S = 10
const shapeOf = (bos: boolean): Gpt2Shape => ({ vocabSize: V + (bos ? 1 : 0), seqLen: S + (bos ? 1 : 0), layers: 2, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true })
const seqs = (count: number, seed: number) => ({ vocabSize: V, seqLen: S, count, tokens: randInts(count * S, V, seed) })
const train = { batchSize: 16, lr: 2e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, warmupSteps: 5, schedule: "cosine" as const, maxSteps: 60, gradClip: 1, stop: {}, logEvery: 20, seed: 3 }

layer(WebGpu.layer)("native CPU model", (it) => {
  for (const bos of [false, true]) {
    it.effect(`code lengths and token log-probs equal the float64 reference${bos ? " (BOS)" : ""}`, () =>
      Effect.gen(function* () {
        const weights = initGpt2Weights(shapeOf(bos), 11)
        const cpu = yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos })
        const data = seqs(37, 12)
        const refOpts = bos ? { bos: V } : undefined
        expectClose(yield* cpu.codeLengths(data), referenceCodeLengths(weights, data, refOpts), 1e-4, 1e-5, "code lengths")
        expectClose(yield* cpu.tokenLogProbs(data), referenceTokenLogProbs(weights, data, refOpts), 1e-4, 1e-5, "token log-probs")
      }).pipe(Effect.scoped))
  }

  it.effect("cross-check: trained on one backend, evaluated on the other, the same code lengths within 1e-4 relative", () =>
    Effect.gen(function* () {
      const data = seqs(48, 13)
      const holdout = seqs(16, 14)
      const shape = shapeOf(false)
      const pairs: Array<[string, Gpt2Model, Gpt2Model]> = []
      const cpu = yield* makeCpuGpt2Engine(initGpt2Weights(shape, 15), { precision: "fp32" })
      const cpuOut = yield* trainLoop(cpu, data, train, () => Effect.void)
      pairs.push(["cpu → webgpu", cpu, yield* makeGpuGpt2Engine(yield* cpu.exportWeights(), { precision: "fp32" })])
      const gpu = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 15), { precision: "fp32" })
      const gpuOut = yield* trainLoop(gpu, data, train, () => Effect.void)
      pairs.push(["webgpu → cpu", gpu, yield* makeCpuGpt2Engine(yield* gpu.exportWeights(), { precision: "fp32" })])
      // Both learned (the loss fell well below its start) ...
      expect(cpuOut.losses[59]).toBeLessThan(cpuOut.losses[0] - 0.3)
      expect(gpuOut.losses[59]).toBeLessThan(gpuOut.losses[0] - 0.3)
      for (const [what, trainedOn, other] of pairs) {
        for (const set of [data, holdout]) {
          const a = yield* trainedOn.codeLengths(set)
          const b = yield* other.codeLengths(set)
          expectClose(b, a, 0, 1e-4, what)
        }
      }
      // ... and the two backends trained alike (same init, data order, recipe; f32 sums in other orders).
      expect(Math.abs(cpuOut.losses[59] - gpuOut.losses[59])).toBeLessThan(0.02)
    }).pipe(Effect.scoped))

  it.effect("next-token logits: the reference's, and bit for bit independent of later tokens (both backends)", () =>
    Effect.gen(function* () {
      const weights = initGpt2Weights(shapeOf(false), 16)
      const data = seqs(9, 17)
      for (const model of [yield* makeCpuGpt2Engine(weights, { precision: "fp32" }), yield* makeGpuGpt2Engine(weights, { precision: "fp32" })]) {
        const lp = referenceTokenLogProbs(weights, data)
        for (const pos of [0, 1, 5, S - 1]) {
          const logits = yield* model.nextTokenLogits(data, pos)
          expect(logits.length).toBe(9 * V)
          // Later tokens scrambled: the same floats.
          const scrambled = data.tokens.slice()
          for (let b = 0; b < 9; b++) for (let t = pos; t < S; t++) scrambled[b * S + t] = (scrambled[b * S + t] * 7 + 3) % V
          const again = yield* model.nextTokenLogits({ ...data, tokens: scrambled }, pos)
          expect(Buffer.from(again.buffer).equals(Buffer.from(logits.buffer)), `position ${pos}`).toBe(true)
          if (pos === 0) expect(Array.from(logits).every((x) => x === 0)).toBe(true)
          else {
            // log-softmax of the logits at the target is the reference's log2 p.
            for (let b = 0; b < 9; b++) {
              const row = logits.subarray(b * V, (b + 1) * V)
              const mx = Math.max(...row)
              const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0))
              expect((row[data.tokens[b * S + pos]] - lse) / Math.LN2).toBeCloseTo(lp[b * S + pos], 4)
            }
          }
        }
      }
    }).pipe(Effect.scoped))

  it.effect("an allocation that cannot be made is a TrainError naming the sizes", () =>
    Effect.gen(function* () {
      const cpu = yield* makeCpuGpt2Engine(initGpt2Weights(shapeOf(false), 1), { precision: "fp32" })
      const exit = yield* Effect.exit(cpu.stepper(2 ** 27, S, 1))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toMatch(/cannot allocate activations for 134217728 rows of 10 positions: .* GiB/)
    }).pipe(Effect.scoped))
})
