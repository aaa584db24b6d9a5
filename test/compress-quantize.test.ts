/**
 * The coder's two quantization paths on a real CPU GPT-2: the stepper's
 * native `quantize` (native/quantize.cc) and the TypeScript definition (core
 * quantize.ts, what every model without it gets). They must write the same
 * code words bit for bit, so a file written by either decodes with the other;
 * and a NaN in the logits must fail both the same way.
 */
import { describe, expect, it } from "@effect/vitest"
import { ModelError, mulberry32, type NextTokenStepper, type TokenSequences } from "@memorize/core"
import { compression } from "@memorize/metrics"
import { Effect } from "effect"
import { openGpt2 } from "../packages/gpu-webgpu/src/model/open.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights } from "../packages/gpu-webgpu/src/model/init.ts"

/** Random weights scaled up so the model's predictions are far from uniform. */
const sharp = (s: Gpt2Shape, seed: number): Gpt2Weights => {
  const w = initGpt2Weights(s, seed)
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: n.includes("ln_") || n.endsWith(".bias") ? t.data : t.data.map((x) => x * 12) })
  return { shape: s, tensors }
}

const sequences = (count: number, seqLen: number, vocab: number, seed: number): TokenSequences => {
  const r = mulberry32(seed)
  return { vocabSize: vocab, seqLen, count, tokens: Uint32Array.from({ length: count * seqLen }, () => Math.floor(r() * vocab)) }
}

type Source = compression.LogitsSource

/** The model's stepper as is (native quantize), or without its quantize (the definition), or with a NaN put into one logit. */
const sourceOf = (model: Source, options: { readonly native: boolean; readonly nanAt?: { position: number; index: number } }): Source => ({
  nextTokenStepper: (shape) =>
    Effect.map(
      model.nextTokenStepper!(shape),
      (stepper): NextTokenStepper => ({
        next: (t, previous) =>
          Effect.map(stepper.next(t, previous), (logits) => {
            if (options.nanAt?.position !== t) return logits
            const copy = logits.slice()
            copy[options.nanAt.index] = NaN
            return copy
          }),
        ...(options.native && stepper.quantize !== undefined ? { quantize: stepper.quantize } : {})
      })
    )
})

describe("compression: native and TypeScript quantization", () => {
  for (const bos of [false, true]) {
    it.effect(`write the same code words and decode each other's (bos: ${bos}, V = 301, batches of 7)`, () =>
      Effect.gen(function* () {
        const V = 301
        const shape: Gpt2Shape = {
          vocabSize: bos ? V + 1 : V,
          nPositions: 10,
          layers: 1,
          dModel: 16,
          heads: 2,
          layerNormEps: 1e-5,
          activation: "gelu_new",
          tiedHead: true
        }
        const model = yield* openGpt2(sharp(shape, 3), { precision: "fp32", bos, device: "cpu" })
        const probe = yield* model.nextTokenStepper({ count: 1, seqLen: 9, vocabSize: V })
        expect(probe.quantize, "the CPU stepper has a native quantizer").toBeDefined()
        const seqs = sequences(23, 9, V, 11)
        const options = { batch: 7, freqBits: 20 }
        const fast = sourceOf(model, { native: true })
        const slow = sourceOf(model, { native: false })
        const byNative = yield* compression.encodeSequences(fast, seqs, options)
        const byDefinition = yield* compression.encodeSequences(slow, seqs, options)
        expect(byNative.codes).toEqual(byDefinition.codes)
        expect(byNative.quantizedBits).toEqual(byDefinition.quantizedBits)
        expect(byNative.logitBits).toEqual(byDefinition.logitBits)
        for (const [codes, decoder] of [
          [byDefinition.codes, fast],
          [byNative.codes, slow]
        ] as const) {
          const back = yield* compression.decodeSequences(decoder, codes, seqs, options)
          expect(back.tokens).toEqual(seqs.tokens)
        }
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a NaN logit fails both paths with the same error, naming the sequence and position", () =>
    Effect.gen(function* () {
      const V = 50
      const shape: Gpt2Shape = { vocabSize: V, nPositions: 6, layers: 1, dModel: 8, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
      const model = yield* openGpt2(sharp(shape, 5), { precision: "fp32", bos: false, device: "cpu" })
      const seqs = sequences(9, 6, V, 2)
      const nanAt = { position: 3, index: 5 * V + 17 }
      const errors = []
      for (const native of [true, false]) {
        errors.push(yield* Effect.flip(compression.encodeSequences(sourceOf(model, { native, nanAt }), seqs, { batch: 9, freqBits: 16 })))
      }
      for (const e of errors) expect(e).toBeInstanceOf(ModelError)
      expect(errors[0].message).toBe(errors[1].message)
      expect(errors[0].message).toMatch(/logits of sequence 5 at position 3: logits row 5 has a non-finite value at 17/)
    }).pipe(Effect.scoped)
  )
})
