import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { ModelError, nextTokenStepperOf, type TokenSequences, type TrainedModel } from "@memorize/core"
import {
  ArithmeticDecoder,
  ArithmeticEncoder,
  BitReader,
  concatBits,
  decodeSequences,
  encodeSequences,
  type LogitsSource,
  exp2NonPositive,
  makeQuantizer,
  quantizationBound,
  scaleDown,
  truncationBound
} from "../src/compression/index.ts"
import { bigramModelArb, type CodingModel, conditionalModel, memorizerModel, tokenSequencesArb, uniformModel } from "../src/testing/index.ts"

/** A frequency table over `weights.length` symbols summing to 2^P, every entry ≥ 1. */
const table = (weights: ReadonlyArray<number>, P: number): Float64Array => {
  const V = weights.length
  const budget = 2 ** P - V
  const total = weights.reduce((a, b) => a + b, 0)
  const f = Float64Array.from(weights, (w) => 1 + (total > 0 ? Math.floor((w / total) * budget) : 0))
  f[0] += 2 ** P - f.reduce((a, b) => a + b, 0)
  return f
}

const cumulative = (f: Float64Array) => {
  const c = new Float64Array(f.length + 1)
  for (let s = 0; s < f.length; s++) c[s + 1] = c[s] + f[s]
  return c
}

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runSync(e)

describe("scaleDown", () => {
  it("is ⌊r·c/2^P⌋ exactly (checked with BigInt)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 24 }).chain((P) => fc.tuple(fc.constant(P), fc.integer({ min: 1, max: 2 ** 32 }), fc.integer({ min: 0, max: 2 ** P }))),
        ([P, r, c]) => {
          expect(BigInt(scaleDown(r, c, P))).toBe((BigInt(r) * BigInt(c)) >> BigInt(P))
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("arithmetic coder", () => {
  const codeArb = fc.integer({ min: 16, max: 24 }).chain((P) =>
    fc
      .record({
        P: fc.constant(P),
        // zeros give frequency-1 symbols, the coder's worst case
        weights: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true })), {
          minLength: 2,
          maxLength: 300
        })
      })
      .chain(({ P, weights }) =>
        fc.record({ P: fc.constant(P), weights: fc.constant(weights), symbols: fc.array(fc.integer({ min: 0, max: weights.length - 1 }), { maxLength: 200 }) })
      )
  )

  it("decodes exactly what it encoded, within Σ −log2(f/T) + Σ truncation bound + 2 bits", () => {
    fc.assert(
      fc.property(codeArb, ({ P, weights, symbols }) => {
        const f = table(weights, P)
        const cum = cumulative(f)
        const enc = new ArithmeticEncoder(P)
        let bound = 2
        for (const s of symbols) {
          enc.encode(cum[s], f[s])
          bound += Math.log2(2 ** P / f[s]) + truncationBound(f[s], P)
        }
        const code = enc.finish()
        expect(code.bitLength).toBeLessThanOrEqual(bound)
        const dec = new ArithmeticDecoder(P, new BitReader(code.bytes, 0, code.bitLength))
        expect(symbols.map(() => dec.decode(cum))).toEqual(symbols)
      }),
      { numRuns: 300 }
    )
  })

  it("codes runs of the least likely symbol (long pending chains) and of the most likely one", () => {
    for (const P of [16, 24]) {
      const f = table([0, 1e9, 0, 0], P)
      const cum = cumulative(f)
      for (const s of [0, 1, 2, 3]) {
        const symbols = Array.from({ length: 1000 }, (_, i) => (i % 7 === 3 ? (s + 1) % 4 : s))
        const enc = new ArithmeticEncoder(P)
        let ideal = 0
        for (const x of symbols) {
          enc.encode(cum[x], f[x])
          ideal += Math.log2(2 ** P / f[x])
        }
        const code = enc.finish()
        expect(code.bitLength).toBeLessThanOrEqual(ideal + 1000 * truncationBound(1, P) + 2)
        const dec = new ArithmeticDecoder(P, new BitReader(code.bytes, 0, code.bitLength))
        expect(symbols.map(() => dec.decode(cum))).toEqual(symbols)
      }
    }
  })

  it("code words are prefix-free (Kraft sum ≤ 1) and never shorter than −log2 of their interval", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        (V, w, n) => {
          const f = table(w.slice(0, V), 16)
          const cum = cumulative(f)
          // Every message of length n over V symbols.
          const words: Array<string> = []
          let kraft = 0
          for (let m = 0; m < V ** n; m++) {
            const enc = new ArithmeticEncoder(16)
            let ideal = 0
            for (let k = 0, x = m; k < n; k++, x = Math.floor(x / V)) {
              enc.encode(cum[x % V], f[x % V])
              ideal += Math.log2(2 ** 16 / f[x % V])
            }
            const c = enc.finish()
            const bits = Array.from({ length: c.bitLength }, (_, i) => (c.bytes[i >> 3] >> (7 - (i & 7))) & 1).join("")
            expect(c.bitLength).toBeGreaterThanOrEqual(ideal - 1e-3)
            words.push(bits)
            kraft += 2 ** -c.bitLength
          }
          expect(kraft).toBeLessThanOrEqual(1)
          // Sorted, a word that prefixes another prefixes its successor.
          words.sort()
          for (let i = 1; i < words.length; i++) expect(words[i].startsWith(words[i - 1])).toBe(false)
        }
      ),
      { numRuns: 100 }
    )
  })

  it("reads code words back out of a bit-concatenated payload", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 30 }), { minLength: 1, maxLength: 8 }), (messages) => {
        const f = table([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 16)
        const cum = cumulative(f)
        const codes = messages.map((m) => {
          const enc = new ArithmeticEncoder(16)
          for (const s of m) enc.encode(cum[s], f[s])
          return enc.finish()
        })
        const payload = concatBits(codes)
        let start = 0
        messages.forEach((m, k) => {
          const dec = new ArithmeticDecoder(16, new BitReader(payload, start, codes[k].bitLength))
          expect(m.map(() => dec.decode(cum))).toEqual(m)
          start += codes[k].bitLength
        })
      })
    )
  })
})

describe("quantization", () => {
  it("2^x agrees with Math.pow to 1e-14 relative on [−80, 0]", () => {
    fc.assert(
      fc.property(fc.double({ min: -80, max: 0, noNaN: true }), (x) => {
        expect(Math.abs(exp2NonPositive(x) / 2 ** x - 1)).toBeLessThan(1e-14)
      }),
      { numRuns: 5000 }
    )
    expect(exp2NonPositive(0)).toBe(1)
    expect(exp2NonPositive(-Infinity)).toBe(0)
  })

  it("gives frequencies ≥ 1 summing to 2^P, costing at most −log2(1 − V/T) bits per token over the logits' softmax", () => {
    const rowArb = fc.integer({ min: 2, max: 400 }).chain((V) =>
      fc.record({
        P: fc.integer({ min: 16, max: 24 }),
        logits: fc
          .array(
            fc.oneof(
              fc.float({ min: -30, max: 30, noNaN: true }),
              fc.float({ min: Math.fround(-1e30), max: Math.fround(1e30), noNaN: true }),
              fc.constant(Number.NEGATIVE_INFINITY)
            ),
            { minLength: V, maxLength: V }
          )
          .filter((l) => l.some(Number.isFinite))
      })
    )
    fc.assert(
      fc.property(rowArb, ({ P, logits }) => {
        const V = logits.length
        const q = makeQuantizer(V, P)
        const row = Float32Array.from(logits)
        q.quantize(row, 0)
        let total = 0
        for (let s = 0; s < V; s++) {
          expect(q.freq[s]).toBeGreaterThanOrEqual(1)
          expect(Number.isInteger(q.freq[s])).toBe(true)
          total += q.freq[s]
        }
        expect(total).toBe(2 ** P)
        // Softmax in float64 with Math.exp, independently.
        const m = Math.max(...row)
        const z = row.reduce((a, l) => a + Math.exp(l - m), 0)
        for (let s = 0; s < V; s++) {
          const bits = -Math.log2(Math.exp(row[s] - m) / z)
          if (Number.isFinite(bits) && bits < 200) expect(Math.abs(q.logitBits(s) - bits)).toBeLessThan(1e-9 * Math.max(1, bits))
          expect(Math.log2(2 ** P / q.freq[s])).toBeLessThanOrEqual(q.logitBits(s) + quantizationBound(V, P) + 1e-9)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("frequencies are those of the plain definition, bit for bit (the fast loops change no file)", () => {
    // f_s = 1 + ⌊2^((l_s − m)·log2 e) · (T − V) / Σ⌋, the remainder to the first maximum: as written in quantize.ts's header.
    const plain = (row: Float32Array, P: number) => {
      const V = row.length
      const m = Math.max(...row)
      const e = Array.from(row, (l) => exp2NonPositive((l - m) * Math.LOG2E))
      const z = e.reduce((a, b) => a + b, 0)
      const f = e.map((v) => 1 + Math.floor(v * ((2 ** P - V) / z)))
      f[row.indexOf(m)] += 2 ** P - f.reduce((a, b) => a + b, 0)
      return f
    }
    const rowArb = fc.record({
      P: fc.integer({ min: 16, max: 24 }),
      logits: fc
        .array(fc.oneof(fc.float({ min: -40, max: 40, noNaN: true }), fc.constant(Number.NEGATIVE_INFINITY)), { minLength: 2, maxLength: 3000 })
        .filter((l) => l.some(Number.isFinite))
    })
    fc.assert(
      fc.property(rowArb, ({ P, logits }) => {
        const q = makeQuantizer(logits.length, P)
        const row = Float32Array.from(logits)
        q.quantize(row, 0)
        expect(Array.from(q.freq)).toEqual(plain(row, P))
        q.cumulate()
        for (const s of [0, logits.length >> 1, logits.length - 1]) expect(q.cumLow(s)).toBe(q.cum[s])
      }),
      { numRuns: 200 }
    )
  })

  it("rejects NaN and +∞ logits", () => {
    const q = makeQuantizer(3, 16)
    expect(() => q.quantize(Float32Array.from([0, Number.NaN, 1]), 0)).toThrow(/non-finite value at 1/)
    expect(() => q.quantize(Float32Array.from([0, Number.POSITIVE_INFINITY, 1]), 0)).toThrow(/no finite maximum/)
  })
})

/** The kit's models all have nextTokenLogits; `bigramModelArb` types them as plain TrainedModels. */
const coding = (model: TrainedModel): LogitsSource & Pick<CodingModel, "nextTokenLogits"> => {
  const f = model.nextTokenLogits
  if (f === undefined) throw new Error(`${model.description.kind} has no nextTokenLogits`)
  return { nextTokenLogits: f }
}

/** Logits that also depend on the batch size and row (allowed by the contract): batches must line up. */
const batchDependent = (model: TrainedModel): LogitsSource => ({
  nextTokenLogits: (seqs, position) =>
    Effect.map(coding(model).nextTokenLogits(seqs, position), (logits) =>
      logits.map((l, k) => l + ((seqs.count * 7 + Math.floor(k / seqs.vocabSize) * 3) % 11) * 0.01)
    )
})

const shapeAndData = fc.record({ vocabSize: fc.integer({ min: 2, max: 40 }), seqLen: fc.integer({ min: 1, max: 12 }) }).chain((shape) =>
  fc.record({
    model: bigramModelArb(shape),
    seqs: tokenSequencesArb(shape, { minCount: 1, maxCount: 12 }),
    batch: fc.integer({ min: 1, max: 14 }),
    freqBits: fc.integer({ min: 16, max: 24 })
  })
)

describe("codec (batched, model-driven)", () => {
  it("round trip is exact for random bigram models and data, and every code word is within its bound", () => {
    fc.assert(
      fc.property(shapeAndData, fc.boolean(), ({ model, seqs, batch, freqBits }, skew) => {
        const m = skew ? batchDependent(model) : coding(model)
        const options = { batch, freqBits }
        const encoded = run(encodeSequences(m, seqs, options))
        const decoded = run(decodeSequences(m, encoded.codes, seqs, options))
        expect(decoded.tokens).toEqual(seqs.tokens)
        const codeLengths = run(model.codeLengths(seqs))
        const V = seqs.vocabSize
        for (let i = 0; i < seqs.count; i++) {
          expect(encoded.codes[i].bitLength).toBeLessThanOrEqual(encoded.boundBits[i])
          // The bound in terms of the model: its code length + quantization + truncation + 2.
          expect(encoded.boundBits[i]).toBeLessThanOrEqual(
            encoded.logitBits[i] + seqs.seqLen * (quantizationBound(V, freqBits) + truncationBound(1, freqBits)) + 2 + 1e-9
          )
          if (!skew) expect(Math.abs(encoded.logitBits[i] - codeLengths[i])).toBeLessThan(1e-4 * Math.max(1, codeLengths[i]))
        }
      }),
      { numRuns: 150 }
    )
  })

  it("compresses what a model memorized far below its entropy, and decodes it", () => {
    const V = 1000
    const S = 32
    const seqs = run(
      Effect.sync(() => {
        const tokens = new Uint32Array(20 * S)
        let x = 12345
        for (let i = 0; i < tokens.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0
          tokens[i] = x % V
        }
        return { vocabSize: V, seqLen: S, count: 20, tokens }
      })
    )
    const model = memorizerModel({ sequences: seqs, confidence: 0.999 })
    const encoded = run(encodeSequences(model, seqs, { batch: 8, freqBits: 24 }))
    const entropy = S * Math.log2(V)
    for (const c of encoded.codes) expect(c.bitLength).toBeLessThan(0.2 * entropy)
    expect(run(decodeSequences(model, encoded.codes, seqs, { batch: 8, freqBits: 24 })).tokens).toEqual(seqs.tokens)
  })

  it("uses the whole context (not only the last token)", () => {
    // p(next | ctx) peaked on (Σ ctx) mod V: depends on every earlier token.
    const V = 7
    const model = conditionalModel({
      vocabSize: V,
      seqLen: 10,
      logProbs: (ctx) => {
        const peak = ctx.reduce((a, b) => a + b, 0) % V
        return Float64Array.from({ length: V }, (_, s) => Math.log2(s === peak ? 0.94 : 0.01))
      }
    })
    fc.assert(
      fc.property(tokenSequencesArb({ vocabSize: V, seqLen: 10 }, { minCount: 1, maxCount: 6 }), (seqs) => {
        const encoded = run(encodeSequences(model, seqs, { batch: 4, freqBits: 16 }))
        expect(run(decodeSequences(model, encoded.codes, seqs, { batch: 4, freqBits: 16 })).tokens).toEqual(seqs.tokens)
      })
    )
  })

  it("encoder and decoder both step through the model's stepper, never its full-pass logits", () => {
    // The stepper knows the sequences (memorizer), nextTokenLogits does not (uniform): were either direction to use
    // nextTokenLogits, the code words would be ≈ S·log2 V long (encoder) or decode to other tokens (decoder).
    const V = 50
    const S = 12
    const seqs = run(Effect.sync(() => ({ vocabSize: V, seqLen: S, count: 9, tokens: Uint32Array.from({ length: 9 * S }, (_, i) => (i * 37 + 11) % V) })))
    const memorizer = memorizerModel({ sequences: seqs, confidence: 0.99 })
    let steps = 0
    let fullCalls = 0
    const source: LogitsSource = {
      nextTokenStepper: (shape) =>
        Effect.sync(() => {
          const stepper = nextTokenStepperOf(memorizer.nextTokenLogits, shape)
          return { next: (t, previous) => Effect.suspend(() => (steps++, stepper.next(t, previous))) }
        }),
      nextTokenLogits: (s, t) => Effect.suspend(() => (fullCalls++, uniformModel(V, S).nextTokenLogits(s, t)))
    }
    const options = { batch: 4, freqBits: 20 }
    const encoded = run(encodeSequences(source, seqs, options))
    for (const c of encoded.codes) expect(c.bitLength).toBeLessThan(0.2 * S * Math.log2(V))
    expect(run(decodeSequences(source, encoded.codes, seqs, options)).tokens).toEqual(seqs.tokens)
    // 3 batches (4, 4, 1 sequences) × S positions, in each direction.
    expect({ steps, fullCalls }).toEqual({ steps: 2 * 3 * S, fullCalls: 0 })
  })

  it("codes with the stepper's own quantize in both directions; a refusal the definition does not share is named", () => {
    const V = 7
    const S = 5
    const seqs: TokenSequences = { vocabSize: V, seqLen: S, count: 6, tokens: Uint32Array.from({ length: 6 * S }, (_, i) => (i * 5) % V) }
    const model = memorizerModel({ sequences: seqs, confidence: 0.9 })
    // A stand-in for a native twin: the definition row by row, counted; `refuse` makes it refuse row 0 at position 2.
    let quantizeCalls = 0
    const sourceWith = (refuse: boolean): LogitsSource => ({
      nextTokenStepper: (shape) =>
        Effect.sync(() => {
          const stepper = nextTokenStepperOf(model.nextTokenLogits, shape)
          const q = makeQuantizer(V, 20)
          const cum = new Int32Array(shape.count * (V + 1))
          const stats = new Float64Array(shape.count * 2)
          let t = 0
          return {
            next: (position, previous) => Effect.map(stepper.next(position, previous), (logits) => ((t = position), logits)),
            quantize: (logits, freqBits) => {
              quantizeCalls++
              expect(freqBits).toBe(20)
              for (let i = 0; i < shape.count; i++) {
                q.quantize(logits, i)
                q.cumulate()
                cum.set(q.cum, i * (V + 1))
                stats[2 * i] = q.lastMax()
                stats[2 * i + 1] = q.lastSum()
              }
              return { cum, stats, refused: refuse && t === 2 ? 0 : -1 }
            }
          }
        })
    })
    const options = { batch: 4, freqBits: 20 }
    const viaStepper = run(encodeSequences(sourceWith(false), seqs, options))
    expect(quantizeCalls).toBe(2 * S)
    const byDefinition = run(encodeSequences({ nextTokenLogits: model.nextTokenLogits }, seqs, options))
    expect(viaStepper.codes).toEqual(byDefinition.codes)
    expect(run(decodeSequences(sourceWith(false), viaStepper.codes, seqs, options)).tokens).toEqual(seqs.tokens)
    const refused = run(Effect.flip(encodeSequences(sourceWith(true), seqs, options)))
    expect(refused.message).toMatch(/refused the logits of sequence 0 at position 2, which the definition \(quantize.ts\) accepts/)
  })

  it("names a model that returns the wrong number of logits or NaN", () => {
    const seqs: TokenSequences = { vocabSize: 3, seqLen: 2, count: 2, tokens: Uint32Array.from([0, 1, 2, 0]) }
    const short = { nextTokenLogits: () => Effect.succeed(new Float32Array(5)) }
    const e1 = run(Effect.flip(encodeSequences(short, seqs, { batch: 2, freqBits: 16 })))
    expect(e1).toBeInstanceOf(ModelError)
    expect(e1.message).toMatch(/returned 5 values for sequences 0…1 \(expected 2 × 3\)/)
    const nan = { nextTokenLogits: (_: TokenSequences, t: number) => Effect.succeed(Float32Array.from([0, 0, 0, 0, t === 1 ? Number.NaN : 0, 0])) }
    const e2 = run(Effect.flip(encodeSequences(nan, seqs, { batch: 2, freqBits: 16 })))
    expect(e2.message).toMatch(/logits of sequence 1 at position 1: .*non-finite value at 1/)
  })
})
