/**
 * The native CPU GPT-2 as a whole: evaluation against the float64 oracle
 * model, the cross-check with WebGPU (a model trained on one backend gives
 * the same code lengths on the other, within 1e-4 relative), next-token
 * logits that do not depend on later tokens (bit for bit, on both backends),
 * the incremental pass (next-token stepper, greedy generation) against the
 * oracle, the full pass and itself on another thread count, and an
 * allocation failure reported as an error naming the sizes.
 */
import { expect, layer } from "@effect/vitest"
import { ModelError } from "@memorize/core"
import { Effect, Exit } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import type { Gpt2Model } from "../src/model/evaluation.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import type { Gpt2Shape } from "../src/model/weights.ts"
import { oracleCodeLengths, oracleLogits, oracleTokenLogProbs } from "./oracle/gpt2.ts"
import { trainLoop } from "../src/train/loop.ts"
import { expectClose, randInts } from "./helpers.ts"

const V = 24
const S = 10
const shapeOf = (bos: boolean): Gpt2Shape => ({
  vocabSize: V + (bos ? 1 : 0),
  nPositions: S + (bos ? 1 : 0),
  layers: 2,
  dModel: 16,
  heads: 2,
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead: true
})
const seqs = (count: number, seed: number) => ({ vocabSize: V, seqLen: S, count, tokens: randInts(count * S, V, seed) })
const train = {
  batchSize: 16,
  lr: 2e-2,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  weightDecay: 0,
  warmupSteps: 5,
  schedule: "cosine" as const,
  maxSteps: 60,
  gradClip: 1,
  stop: {},
  logEvery: 20,
  seed: 3
}

layer(WebGpu.layer)("native CPU model", (it) => {
  for (const bos of [false, true]) {
    it.effect(`code lengths and token log-probs equal the float64 oracle${bos ? " (BOS)" : ""}`, () =>
      Effect.gen(function* () {
        const weights = initGpt2Weights(shapeOf(bos), 11)
        const cpu = yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos })
        const data = seqs(37, 12)
        const refOpts = bos ? { bos: V } : undefined
        expectClose(yield* cpu.codeLengths(data), oracleCodeLengths(weights, data, refOpts), 1e-4, 1e-5, "code lengths")
        expectClose(yield* cpu.tokenLogProbs(data), oracleTokenLogProbs(weights, data, refOpts), 1e-4, 1e-5, "token log-probs")
      }).pipe(Effect.scoped)
    )
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
    }).pipe(Effect.scoped)
  )

  it.effect("next-token logits: the oracle's, and bit for bit independent of later tokens (both backends)", () =>
    Effect.gen(function* () {
      const weights = initGpt2Weights(shapeOf(false), 16)
      const data = seqs(9, 17)
      for (const model of [yield* makeCpuGpt2Engine(weights, { precision: "fp32" }), yield* makeGpuGpt2Engine(weights, { precision: "fp32" })]) {
        const lp = oracleTokenLogProbs(weights, data)
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
            // log-softmax of the logits at the target is the oracle's log2 p.
            for (let b = 0; b < 9; b++) {
              const row = logits.subarray(b * V, (b + 1) * V)
              const mx = Math.max(...row)
              const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0))
              expect((row[data.tokens[b * S + pos]] - lse) / Math.LN2).toBeCloseTo(lp[b * S + pos], 4)
            }
          }
        }
      }
    }).pipe(Effect.scoped)
  )

  /** The stepper's logits of every position, fed the data's own tokens: count × S × V. */
  const stepAll = (model: Gpt2Model, data: { count: number; seqLen: number; vocabSize: number; tokens: Uint32Array }) =>
    Effect.gen(function* () {
      const { count, seqLen: L, vocabSize: W } = data
      const stepper = yield* model.nextTokenStepper({ count, seqLen: L, vocabSize: W })
      const out = new Float32Array(count * L * W)
      const previous = new Uint32Array(count)
      for (let t = 0; t < L; t++) {
        for (let b = 0; b < count && t > 0; b++) previous[b] = data.tokens[b * L + t - 1]
        const logits = yield* stepper.next(t, previous)
        for (let b = 0; b < count; b++) out.set(logits.subarray(b * W, (b + 1) * W), (b * L + t) * W)
      }
      return out
    })

  for (const bos of [false, true]) {
    it.effect(
      `incremental stepper: the float64 oracle's logits at every position${bos ? " (BOS)" : ""}; steps out of order or bad tokens are ModelErrors`,
      () =>
        Effect.gen(function* () {
          const weights = initGpt2Weights(shapeOf(bos), 18)
          const cpu = yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos })
          const data = seqs(11, 19)
          const stepped = yield* stepAll(cpu, data)
          const full = oracleLogits(weights, data, bos ? { bos: V } : undefined)
          const T = S + (bos ? 1 : 0)
          const Vm = V + (bos ? 1 : 0)
          // Data position t is predicted by model position t − 1 + lead; without BOS position 0 is uniform (zeros).
          const want = Float64Array.from(stepped, (_, i) => {
            const [b, t, v] = [Math.floor(i / (S * V)), Math.floor(i / V) % S, i % V]
            const pos = t - 1 + (bos ? 1 : 0)
            return pos < 0 ? 0 : full[(b * T + pos) * Vm + v]
          })
          expectClose(stepped, want, 1e-4, 1e-4, "step logits")
          const shape = { count: 2, seqLen: S, vocabSize: V }
          const stepper = yield* cpu.nextTokenStepper(shape)
          const skipped = yield* Effect.flip(stepper.next(1, new Uint32Array(2)))
          expect(skipped).toBeInstanceOf(ModelError)
          expect(skipped.message).toMatch(/position 1 asked for where position 0 comes next/)
          yield* stepper.next(0, new Uint32Array(0))
          expect((yield* Effect.flip(stepper.next(1, Uint32Array.of(3, V)))).message).toMatch(
            /token 24 of sequence 1 at position 0 is outside the vocabulary of 24/
          )
          expect((yield* Effect.flip(stepper.next(1, Uint32Array.of(3)))).message).toMatch(/1 previous tokens for 2 sequences/)
          expect((yield* Effect.flip(cpu.nextTokenStepper({ ...shape, seqLen: S + 1 }))).message).toMatch(/exceed the model's/)
          expect((yield* Effect.flip(cpu.nextTokenStepper({ ...shape, vocabSize: V + 1 }))).message).toMatch(/vocabulary 25 exceeds the model's 24/)
        }).pipe(Effect.scoped)
    )
  }

  it.effect(
    "incremental stepper in every precision mode: the full pass's logits within float tolerance (bit for bit or nearly: the same kernels on fewer rows)",
    () =>
      Effect.gen(function* () {
        const data = seqs(9, 20)
        for (const precision of ["fp32", "bf16", "bf16-params", "fp16"] as const) {
          const cpu = yield* makeCpuGpt2Engine(initGpt2Weights(shapeOf(false), 21), { precision })
          const stepped = yield* stepAll(cpu, data)
          const full = new Float32Array(stepped.length)
          for (let t = 0; t < S; t++) {
            const logits = yield* cpu.nextTokenLogits(data, t)
            for (let b = 0; b < data.count; b++) full.set(logits.subarray(b * V, (b + 1) * V), (b * S + t) * V)
          }
          const tol = precision === "fp32" || precision === "bf16-params" ? 1e-5 : 2e-2
          expectClose(stepped, full, tol, tol, precision)
        }
      }).pipe(Effect.scoped)
  )

  it.effect("incremental stepper: bit for bit the same on 1 and 2 threads (blocks of rows and columns, attention past its threading threshold)", () =>
    Effect.gen(function* () {
      const shape: Gpt2Shape = { vocabSize: 600, nPositions: 14, layers: 1, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
      const weights = initGpt2Weights(shape, 22)
      const data = { vocabSize: 600, seqLen: 14, count: 300, tokens: randInts(300 * 14, 600, 23) }
      const on = (threads: number) =>
        Effect.scoped(
          Effect.gen(function* () {
            const cpu = yield* makeCpuGpt2Engine(weights, { precision: "fp32", threads })
            const logits = yield* stepAll(cpu, data)
            expect(cpu.threadsUsed()).toBe(threads)
            return logits
          })
        )
      const one = yield* on(1)
      const two = yield* on(2)
      expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true)
    })
  )

  it.effect("greedy generation through the incremental pass chooses on the CPU what the oracle's logits and WebGPU's incremental pass choose", () =>
    Effect.gen(function* () {
      for (const bos of [false, true]) {
        const weights = initGpt2Weights(shapeOf(bos), 24)
        const prefixes = { vocabSize: V, seqLen: 3, count: 7, tokens: randInts(21, V, 25) }
        const length = S - 3
        const cpu = yield* (yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos })).generate(prefixes, length)
        const gpu = yield* (yield* makeGpuGpt2Engine(weights, { precision: "fp32", bos })).generate(prefixes, length)
        expect(Array.from(cpu)).toEqual(Array.from(gpu))
        // Greedy by the float64 oracle, one token at a time.
        for (let b = 0; b < prefixes.count; b++) {
          const row = Array.from(prefixes.tokens.subarray(b * 3, b * 3 + 3))
          for (let k = 0; k < length; k++) {
            const T = row.length + (bos ? 1 : 0)
            const logits = oracleLogits(weights, { vocabSize: V, seqLen: row.length, count: 1, tokens: Uint32Array.from(row) }, bos ? { bos: V } : undefined)
            const last = logits.subarray((T - 1) * shapeOf(bos).vocabSize, (T - 1) * shapeOf(bos).vocabSize + V)
            row.push(last.indexOf(Math.max(...last)))
          }
          expect(Array.from(cpu.subarray(b * length, (b + 1) * length)), `sequence ${b}`).toEqual(row.slice(3))
        }
      }
    }).pipe(Effect.scoped)
  )

  it.effect("an allocation that cannot be made is a TrainError naming the sizes", () =>
    Effect.gen(function* () {
      const cpu = yield* makeCpuGpt2Engine(initGpt2Weights(shapeOf(false), 1), { precision: "fp32" })
      const exit = yield* Effect.exit(cpu.stepper(2 ** 27, S, 1))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toMatch(/cannot allocate activations for 134217728 rows of 10 positions: .* GiB/)
    }).pipe(Effect.scoped)
  )
})
