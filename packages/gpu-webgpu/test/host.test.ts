/** Host-side pieces of the engine, as properties (fast-check): batches, token index, schedules, sampler, layout, init. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { tokenIndex } from "../src/kernels/embedding.ts"
import { NO_TARGET } from "../src/kernels/softmax-ce.ts"
import { fillBatch } from "../src/model/batch.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { paramLayout } from "../src/model/layout.ts"
import { gpt2ParamCount } from "../src/model/weights.ts"
import { batchSampler } from "../src/train/sampler.ts"
import { learningRate } from "../src/train/schedule.ts"

const seqsArb = fc
  .record({ V: fc.integer({ min: 1, max: 50 }), S: fc.integer({ min: 1, max: 12 }), count: fc.integer({ min: 1, max: 6 }) })
  .chain(({ V, S, count }) =>
    fc.record({
      V: fc.constant(V),
      S: fc.constant(S),
      count: fc.constant(count),
      tokens: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: S * count, maxLength: S * count })
    })
  )

describe("batches and targets", () => {
  it("position t's target is the next input; padding rows predict nothing; BOS predicts every token", () =>
    fc.assert(
      fc.property(seqsArb, fc.integer({ min: 0, max: 3 }), fc.boolean(), ({ V, S, count, tokens }, pad, bos) => {
        const src = Uint32Array.from(tokens)
        const rows = Array.from({ length: count }, (_, i) => count - 1 - i)
        const B = count + pad
        const b = fillBatch(src, S, rows, B, bos ? V : undefined)
        const T = S + (bos ? 1 : 0)
        expect(b.tokens.length).toBe(B * T)
        expect(b.predicted).toBe(count * (T - 1))
        expect(b.targets.filter((t) => t !== NO_TARGET).length).toBe(b.predicted)
        rows.forEach((r, i) => {
          const seq = Array.from(src.subarray(r * S, r * S + S))
          const predictedTokens = Array.from(b.targets.subarray(i * T, i * T + T - 1))
          expect(predictedTokens).toEqual(bos ? seq : seq.slice(1))
          if (bos) expect(b.tokens[i * T]).toBe(V)
        })
        for (let i = count * T; i < B * T; i++) expect(b.targets[i]).toBe(NO_TARGET)
      })
    ))

  it("the token index groups every row under its token, in increasing row order", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((V) => fc.tuple(fc.constant(V), fc.array(fc.integer({ min: 0, max: V - 1 }), { maxLength: 200 }))),
        ([V, toks]) => {
          const tokens = Uint32Array.from(toks)
          const { rowStart, rowIdx } = tokenIndex(tokens, V)
          expect(rowStart[V]).toBe(tokens.length)
          expect([...rowIdx].sort((a, b) => a - b)).toEqual(toks.map((_, i) => i))
          for (let v = 0; v < V; v++) {
            const rows = Array.from(rowIdx.subarray(rowStart[v], rowStart[v + 1]))
            expect(rows.every((r) => tokens[r] === v)).toBe(true)
            expect(rows).toEqual([...rows].sort((a, b) => a - b))
          }
        }
      )
    ))
})

describe("learning-rate schedules", () => {
  it("warm up linearly, never exceed the base rate, and cosine/linear end at zero", () =>
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 500 }),
        fc.constantFrom("constant", "cosine", "linear" as const),
        (lr, warmup, extra, schedule) => {
          const maxSteps = warmup + extra
          for (let s = 0; s < maxSteps; s++) {
            const x = learningRate(lr, s, warmup, maxSteps, schedule)
            expect(x).toBeGreaterThanOrEqual(0)
            expect(x).toBeLessThanOrEqual(lr * (1 + 1e-12))
            if (s < warmup) expect(x).toBeCloseTo((lr * (s + 1)) / warmup, 12)
          }
          if (schedule !== "constant") expect(learningRate(lr, maxSteps, warmup, maxSteps, schedule)).toBeCloseTo(0, 12)
          else expect(learningRate(lr, maxSteps - 1, warmup, maxSteps, schedule)).toBe(lr)
        }
      )
    ))
})

describe("batch sampler", () => {
  it("each epoch visits every training row exactly once; same seed, same order", () =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 20 }), fc.integer(), (count, batch, seed) => {
        const a = batchSampler(count, batch, seed)
        const b = batchSampler(count, batch, seed)
        const drawn: Array<number> = []
        const steps = Math.ceil((3 * count) / Math.min(batch, count))
        for (let i = 0; i < steps; i++) {
          const x = a()
          expect(x).toEqual(b())
          expect(x.length).toBe(Math.min(batch, count))
          drawn.push(...x)
        }
        if (count > batch)
          for (let e = 0; e < 2; e++) expect(drawn.slice(e * count, (e + 1) * count).sort((p, q) => p - q)).toEqual(Array.from({ length: count }, (_, i) => i))
      })
    ))
})

describe("parameter layout and initialisation", () => {
  const shapeArb = fc.record({
    vocabSize: fc.integer({ min: 2, max: 300 }),
    nPositions: fc.integer({ min: 1, max: 70 }),
    layers: fc.integer({ min: 1, max: 3 }),
    dModel: fc.integer({ min: 1, max: 24 }).map((h) => h * 2),
    heads: fc.constant(2),
    layerNormEps: fc.constant(1e-5),
    activation: fc.constant("gelu_new" as const),
    tiedHead: fc.boolean()
  })
  it("tensors are disjoint, 256-byte aligned, decayed matrices first, and sum to the paper's count", () =>
    fc.assert(
      fc.property(shapeArb, (shape) => {
        const l = paramLayout(shape)
        const slots = [...l.slots.values()].sort((a, b) => a.offset - b.offset)
        let end = 0
        let sum = 0
        for (const s of slots) {
          expect(s.offset % 64).toBe(0)
          expect(s.offset).toBeGreaterThanOrEqual(end)
          end = s.offset + s.size
          sum += s.size
          expect(s.offset + s.size <= l.decayEnd).toBe(s.shape.length === 2)
        }
        expect(sum).toBe(gpt2ParamCount(shape))
        expect(l.total).toBeGreaterThanOrEqual(end)
      })
    ))
  it("GPT-2 init: seeded, N(0, 0.02) weights, residual projections scaled by 1/√(2L), unit gains, zero biases", () => {
    const shape = { vocabSize: 300, nPositions: 40, layers: 4, dModel: 64, heads: 4, layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
    const a = initGpt2Weights(shape, 1)
    expect(initGpt2Weights(shape, 1).tensors.get("wte.weight")!.data).toEqual(a.tensors.get("wte.weight")!.data)
    expect(initGpt2Weights(shape, 2).tensors.get("wte.weight")!.data).not.toEqual(a.tensors.get("wte.weight")!.data)
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length)
    expect(std(a.tensors.get("wte.weight")!.data)).toBeCloseTo(0.02, 3)
    expect(std(a.tensors.get("h.0.mlp.c_fc.weight")!.data)).toBeCloseTo(0.02, 3)
    expect(std(a.tensors.get("h.1.mlp.c_proj.weight")!.data) / (0.02 / Math.sqrt(8))).toBeCloseTo(1, 1)
    expect(std(a.tensors.get("h.2.attn.c_proj.weight")!.data) / (0.02 / Math.sqrt(8))).toBeCloseTo(1, 1)
    expect([...a.tensors.get("h.0.ln_1.weight")!.data].every((v) => v === 1)).toBe(true)
    expect([...a.tensors.get("h.0.attn.c_attn.bias")!.data].every((v) => v === 0)).toBe(true)
  })
})
