/**
 * The WebGPU incremental pass (`decoder`: key/value caches on the GPU, one
 * row per sequence and position) behind the next-token stepper and greedy
 * generation: its logits are the full pass's (nextTokenLogits) within float
 * tolerance for random small shapes, BOS on and off, in every precision mode
 * the adapter runs; they are the float64 oracle's; a second run gives
 * the same bits (what an arithmetic coder's encoder and decoder rely on);
 * bad steps are errors; generation chooses what full passes choose; the
 * stepper's native quantizer writes the definition's code words; and
 * compress → decompress through the compression codec under a WebGPU model
 * is exact. Needs a WebGPU adapter: without one the layer fails.
 */
import { expect, layer } from "@effect/vitest"
import { ModelError, type TokenSequences } from "@memorize/core"
import { compression } from "@memorize/metrics"
import { Effect } from "effect"
import * as fc from "fast-check"
import { WebGpu } from "../src/device/webgpu.ts"
import type { Gpt2Model } from "../src/model/evaluation.ts"
import { makeGpuGpt2Engine, type Precision } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../src/model/weights.ts"
import { expectClose, randInts } from "./helpers.ts"
import { oracleLogits } from "./oracle/gpt2.ts"

const V = 24
const S = 7
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
const seqs = (count: number, seqLen: number, seed: number): TokenSequences => ({ vocabSize: V, seqLen, count, tokens: randInts(count * seqLen, V, seed) })

/** Weights scaled up (not the norms and biases), so logits spread over several units and differences show. */
const sharp = (w: Gpt2Weights, by: number): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: n.includes("ln_") || n.endsWith(".bias") ? t.data : t.data.map((x) => x * by) })
  return { shape: w.shape, tensors }
}

/** The stepper's logits of every data position, fed the data's own tokens: count × seqLen × V. */
const stepAll = (model: Gpt2Model, data: TokenSequences) =>
  Effect.gen(function* () {
    const { count, seqLen: L } = data
    const stepper = yield* model.nextTokenStepper(data)
    const out = new Float32Array(count * L * V)
    const previous = new Uint32Array(count)
    for (let t = 0; t < L; t++) {
      for (let b = 0; b < count && t > 0; b++) previous[b] = data.tokens[b * L + t - 1]
      const logits = yield* stepper.next(t, previous)
      for (let b = 0; b < count; b++) out.set(logits.subarray(b * V, (b + 1) * V), (b * L + t) * V)
    }
    return out
  })

/** nextTokenLogits at every data position: count × seqLen × V. */
const fullAll = (model: Gpt2Model, data: TokenSequences) =>
  Effect.gen(function* () {
    const { count, seqLen: L } = data
    const out = new Float32Array(count * L * V)
    for (let t = 0; t < L; t++) {
      const logits = yield* model.nextTokenLogits(data, t)
      for (let b = 0; b < count; b++) out.set(logits.subarray(b * V, (b + 1) * V), (b * L + t) * V)
    }
    return out
  })

/** max |a − b| over max |b|: the difference relative to the logits' scale. */
const relDiff = (a: Float32Array, b: Float32Array): number => {
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return diff / Math.max(scale, 1e-30)
}

/** −Σ_t log2 softmax(logits at t)[token t] of each sequence (logits count × seqLen × V, as stepAll and fullAll give them). */
const sequenceBits = (logits: Float32Array, data: TokenSequences): Float64Array =>
  Float64Array.from({ length: data.count }, (_, b) => {
    let bits = 0
    for (let t = 0; t < data.seqLen; t++) {
      const row = logits.subarray((b * data.seqLen + t) * V, (b * data.seqLen + t + 1) * V)
      const mx = Math.max(...row)
      const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0))
      bits -= (row[data.tokens[b * data.seqLen + t]] - lse) / Math.LN2
    }
    return bits
  })

layer(WebGpu.layer)("WebGPU incremental pass", (it) => {
  it.effect("stepper logits = the full pass's for random shapes (1–40 sequences, 1–7 positions, T = 1 included, BOS on and off)", () =>
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      const models = {
        plain: yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(false), 31), 4), { precision: "fp32" }),
        bos: yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(true), 32), 4), { precision: "fp32", bos: true })
      }
      // Counts that are not multiples of the kernels' workgroups (32 rows × heads in the attention step); one data
      // position without BOS feeds no model position at all, one with BOS (or two without) a single one.
      const property = fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: S }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1e6 }),
        (count, L, bos, seed) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const model = bos ? models.bos : models.plain
              const data = seqs(count, L, seed)
              // The same kernels on fewer rows: on lavapipe the same bits; elsewhere a GEMM may sum in another order (split-K on B rows, not B·T).
              expect(relDiff(yield* stepAll(model, data), yield* fullAll(model, data)), `${count} × ${L}${bos ? " + BOS" : ""}`).toBeLessThanOrEqual(1e-5)
            }).pipe(Effect.provideService(WebGpu, gpu))
          )
      )
      yield* Effect.promise(() => fc.assert(property, { numRuns: 12, seed: 7 }))
    }).pipe(Effect.scoped)
  )

  it.effect("in every precision mode the adapter runs: the full pass's logits within 1e-4 of their scale", () =>
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      // fp16 needs the shader-f16 feature (the full pass refuses it too without).
      const modes: ReadonlyArray<Precision> = gpu.features.has("shader-f16") ? ["fp32", "bf16", "bf16-params", "fp16"] : ["fp32", "bf16", "bf16-params"]
      const data = seqs(37, S, 40)
      for (const precision of modes) {
        for (const bos of [false, true]) {
          const model = yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(bos), 41), 4), { precision, bos })
          expect(relDiff(yield* stepAll(model, data), yield* fullAll(model, data)), `${precision}${bos ? " + BOS" : ""}`).toBeLessThanOrEqual(1e-4)
        }
      }
    }).pipe(Effect.scoped)
  )

  for (const bos of [false, true]) {
    it.effect(`stepper logits are the float64 oracle's at every position${bos ? " (BOS)" : ""}`, () =>
      Effect.gen(function* () {
        const weights = initGpt2Weights(shapeOf(bos), 42 + (bos ? 1 : 0))
        const model = yield* makeGpuGpt2Engine(weights, { precision: "fp32", bos })
        const data = seqs(11, S, 44)
        const stepped = yield* stepAll(model, data)
        const full = oracleLogits(weights, data, bos ? { bos: V } : undefined)
        const T = S + (bos ? 1 : 0)
        const Vm = shapeOf(bos).vocabSize
        // Data position t is predicted by model position t − 1 + lead; without BOS position 0 is uniform (zeros).
        const want = Float64Array.from(stepped, (_, i) => {
          const [b, t, v] = [Math.floor(i / (S * V)), Math.floor(i / V) % S, i % V]
          const pos = t - 1 + (bos ? 1 : 0)
          return pos < 0 ? 0 : full[(b * T + pos) * Vm + v]
        })
        expectClose(stepped, want, 1e-4, 1e-4, "step logits")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("bit for bit the same on a second run (pooled plans reused), over 300 sequences: two decoders at once (256 + 44 rows)", () =>
    Effect.gen(function* () {
      const model = yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(true), 45), 4), { precision: "fp32", bos: true })
      const data = seqs(300, S, 46)
      const first = yield* stepAll(model, data)
      const second = yield* stepAll(model, data)
      expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true)
      expect(relDiff(first, yield* fullAll(model, data))).toBeLessThanOrEqual(1e-5)
    }).pipe(Effect.scoped)
  )

  it.effect("a step out of order or a token outside the vocabulary is a ModelError, before any kernel runs", () =>
    Effect.gen(function* () {
      const model = yield* makeGpuGpt2Engine(initGpt2Weights(shapeOf(false), 47), { precision: "fp32" })
      const stepper = yield* model.nextTokenStepper({ count: 2, seqLen: S, vocabSize: V })
      yield* stepper.next(0, new Uint32Array(0))
      const bad = yield* Effect.flip(stepper.next(1, Uint32Array.of(3, V)))
      expect(bad).toBeInstanceOf(ModelError)
      expect(bad.message).toMatch(/token 24 of sequence 1 at position 0 is outside the vocabulary of 24/)
      expect((yield* Effect.flip(stepper.next(2, Uint32Array.of(3, 4)))).message).toMatch(/position 2 asked for where position 1 comes next/)
    }).pipe(Effect.scoped)
  )

  it.effect("greedy generation through the incremental pass chooses what the full pass's logits choose (BOS on and off)", () =>
    Effect.gen(function* () {
      for (const bos of [false, true]) {
        const model = yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(bos), 50), 4), { precision: "fp32", bos })
        const P = 2
        const length = S - P
        const prefixes = seqs(35, P, 51)
        const generated = yield* model.generate(prefixes, length)
        // Greedy by full passes: the prefix and the tokens chosen so far, the first maximum of nextTokenLogits.
        const grown = { vocabSize: V, seqLen: S, count: 35, tokens: new Uint32Array(35 * S) }
        for (let b = 0; b < 35; b++) grown.tokens.set(prefixes.tokens.subarray(b * P, (b + 1) * P), b * S)
        for (let k = 0; k < length; k++) {
          const logits = yield* model.nextTokenLogits(grown, P + k)
          for (let b = 0; b < 35; b++) {
            const row = Array.from(logits.subarray(b * V, (b + 1) * V))
            grown.tokens[b * S + P + k] = row.indexOf(Math.max(...row))
          }
        }
        const want = Uint32Array.from({ length: 35 * length }, (_, i) => grown.tokens[Math.floor(i / length) * S + P + (i % length)])
        expect(Array.from(generated), bos ? "BOS" : "no BOS").toEqual(Array.from(want))
      }
    }).pipe(Effect.scoped)
  )

  it.effect("the WebGPU stepper quantizes in the CPU addon (built here): the same code words as the TypeScript definition, each decoding the other's", () =>
    Effect.gen(function* () {
      const model = yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(true), 52), 8), { precision: "fp32", bos: true })
      const data = seqs(23, S, 53)
      const options = { batch: 9, freqBits: 20 }
      const probe = yield* model.nextTokenStepper({ count: 1, seqLen: S, vocabSize: V })
      expect(probe.quantize, "the native quantizer").toBeDefined()
      const native: compression.LogitsSource = { nextTokenStepper: model.nextTokenStepper }
      // The stepper without its quantize: the coder falls back to the definition.
      const definition: compression.LogitsSource = { nextTokenStepper: (shape) => Effect.map(model.nextTokenStepper(shape), (st) => ({ next: st.next })) }
      const byNative = yield* compression.encodeSequences(native, data, options)
      const byDefinition = yield* compression.encodeSequences(definition, data, options)
      expect(byNative.codes).toEqual(byDefinition.codes)
      expect(byNative.quantizedBits).toEqual(byDefinition.quantizedBits)
      for (const [codes, source] of [
        [byDefinition.codes, native],
        [byNative.codes, definition]
      ] as const)
        expect(Array.from((yield* compression.decodeSequences(source, codes, data, options)).tokens)).toEqual(Array.from(data.tokens))
    }).pipe(Effect.scoped)
  )

  for (const bos of [false, true]) {
    it.effect(`compress → decompress through the compression codec is exact under a WebGPU model${bos ? " (BOS)" : ""}; its code lengths are the model's`, () =>
      Effect.gen(function* () {
        const model = yield* makeGpuGpt2Engine(sharp(initGpt2Weights(shapeOf(bos), 48), 8), { precision: "fp32", bos })
        const data = seqs(40, S, 49)
        const options = { batch: 16, freqBits: 24 }
        const encoded = yield* compression.encodeSequences(model, data, options)
        const decoded = yield* compression.decodeSequences(model, encoded.codes, data, options)
        expect(Array.from(decoded.tokens)).toEqual(Array.from(data.tokens))
        // The coder's code lengths (its softmax over the data's vocabulary) are those of the full pass's logits.
        expectClose(encoded.logitBits, sequenceBits(yield* fullAll(model, data), data), 1e-4, 1e-6, "code lengths")
        if (!bos) expectClose(encoded.logitBits, yield* model.codeLengths(data), 1e-3, 1e-5, "code lengths, evaluated")
        for (let i = 0; i < data.count; i++) expect(encoded.codes[i].bitLength).toBeLessThanOrEqual(Math.ceil(encoded.boundBits[i]))
      }).pipe(Effect.scoped)
    )
  }
})
