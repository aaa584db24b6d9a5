import { describe, expect, it } from "@effect/vitest"
import type { TokenSequences } from "@memorize/core"
import * as fc from "fast-check"
import { type Gpt2Shape, type Gpt2Weights, type HostTensor, gpt2TensorShapes } from "../src/model/weights.ts"
import { fnv1a32, normalStream, philox4x32_10 } from "../src/model/init.ts"
import { erf, geluErf, gelu as geluTanh } from "./oracle/ops.ts"
import { initGpt2Weights, oracleCodeLengths, oracleLogits, oracleLoss, oracleTokenLogProbs } from "./oracle/gpt2.ts"

const seqs = (vocabSize: number, seqLen: number, rows: ReadonlyArray<ReadonlyArray<number>>): TokenSequences => ({
  vocabSize,
  seqLen,
  count: rows.length,
  tokens: Uint32Array.from(rows.flat())
})

const weightsOf = (shape: Gpt2Shape, values: Record<string, ReadonlyArray<number>>): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [name, dims] of gpt2TensorShapes(shape)) {
    const n = dims.reduce((a, b) => a * b, 1)
    const v = values[name]
    if (v === undefined) throw new Error(`test setup: no values for ${name}`)
    if (v.length !== n) throw new Error(`test setup: ${name} needs ${n} values`)
    tensors.set(name, { shape: dims, data: Float32Array.from(v) })
  }
  return { shape, tensors }
}

describe("oracle GPT-2: a hand-computed one-layer model (d = 2, V = 3, one head)", () => {
  // A large ε keeps d = 2 LayerNorms from collapsing to ±1, so every weight matters.
  const eps = 0.5
  const shape = (activation: "gelu_new" | "gelu"): Gpt2Shape => ({
    vocabSize: 3,
    nPositions: 3,
    layers: 1,
    dModel: 2,
    heads: 1,
    layerNormEps: eps,
    activation,
    tiedHead: true
  })
  const zeros = (n: number) => new Array<number>(n).fill(0)
  // c_fc passes the two inputs through on units 0 and 1; units 2, 3 see only their bias.
  const fcW = zeros(16)
  fcW[0 * 8 + 0] = 1
  fcW[1 * 8 + 1] = 1
  const mprojW = zeros(16)
  ;[
    [0, 1, 0],
    [1, 0, 1],
    [2, 1, 1],
    [3, -1, 2]
  ].forEach(([r, a, b]) => {
    mprojW[r * 2] = a
    mprojW[r * 2 + 1] = b
  })
  const values: Record<string, ReadonlyArray<number>> = {
    "wte.weight": [1, 0, 0, 1, 1, 1],
    "wpe.weight": [0, 0, 0.5, -0.5, -1, 0.25],
    "h.0.ln_1.weight": [1, 1],
    "h.0.ln_1.bias": [0, 0],
    // columns: q0 q1 k0 k1 v0 v1
    "h.0.attn.c_attn.weight": [1, 0, 0.5, 0, 1, 2, 0, 1, 0, 0.25, 0, 1],
    "h.0.attn.c_attn.bias": [0, 0, 0, 0, 0.125, -0.25],
    "h.0.attn.c_proj.weight": [1, 0.5, -1, 2],
    "h.0.attn.c_proj.bias": [0, 0.125],
    "h.0.ln_2.weight": [1, 1],
    "h.0.ln_2.bias": [0, 0],
    "h.0.mlp.c_fc.weight": fcW,
    "h.0.mlp.c_fc.bias": [0, 0, 0.5, -1, 0, 0, 0, 0],
    "h.0.mlp.c_proj.weight": mprojW,
    "h.0.mlp.c_proj.bias": [0.0625, 0],
    "ln_f.weight": [1.5, 0.5],
    "ln_f.bias": [0, 0.1875]
  }

  /** The same network written out scalar by scalar for d = 2. */
  const byHand = (tokens: ReadonlyArray<number>, gelu: (x: number) => number) => {
    const wte = [
      [1, 0],
      [0, 1],
      [1, 1]
    ]
    const wpe = [
      [0, 0],
      [0.5, -0.5],
      [-1, 0.25]
    ]
    // LayerNorm of (a, b) with γ = 1, β = 0 is (s, −s), s = δ/√(δ² + ε), δ = (a − b)/2.
    const s = (p: ReadonlyArray<number>) => {
      const delta = (p[0] - p[1]) / 2
      return delta / Math.sqrt(delta * delta + eps)
    }
    const x = tokens.map((tok, t) => [wte[tok][0] + wpe[t][0], wte[tok][1] + wpe[t][1]])
    const s1 = x.map(s)
    // h = s·(1, −1): q = s·(1, −1), k = s·(0.5, −0.25), v = s·(1, 1) + (0.125, −0.25).
    const q = s1.map((st) => [st, -st])
    const k = s1.map((st) => [0.5 * st, -0.25 * st])
    const v = s1.map((st) => [st + 0.125, st - 0.25])
    const attn = x.map((_, t) => {
      const sc = k.slice(0, t + 1).map((kj) => (q[t][0] * kj[0] + q[t][1] * kj[1]) / Math.SQRT2)
      const e = sc.map(Math.exp)
      const z = e.reduce((a, b) => a + b, 0)
      return [0, 1].map((c) => e.reduce((acc, ej, j) => acc + ej * v[j][c], 0) / z)
    })
    // c_proj: o = (a0 − a1, 0.5·a0 + 2·a1 + 0.125)
    const x2 = x.map((p, t) => [p[0] + attn[t][0] - attn[t][1], p[1] + 0.5 * attn[t][0] + 2 * attn[t][1] + 0.125])
    const x3 = x2.map((p) => {
      const s2 = s(p)
      const g = [gelu(s2), gelu(-s2), gelu(0.5), gelu(-1)]
      return [p[0] + g[0] + g[2] - g[3] + 0.0625, p[1] + g[1] + g[2] + 2 * g[3]]
    })
    // ln_f: y = (1.5·s, −0.5·s + 0.1875); logits = y · wteᵀ = (y0, y1, y0 + y1).
    const logits = x3.map((p) => {
      const sf = s(p)
      const y = [1.5 * sf, -0.5 * sf + 0.1875]
      return [y[0], y[1], y[0] + y[1]]
    })
    const log2p = (row: ReadonlyArray<number>, tok: number) => {
      const z = row.reduce((a, b) => a + Math.exp(b), 0)
      return Math.log2(Math.exp(row[tok]) / z)
    }
    return { logits, lp: [-Math.log2(3), log2p(logits[0], tokens[1]), log2p(logits[1], tokens[2])] }
  }

  for (const [activation, gelu] of [
    ["gelu_new", geluTanh],
    ["gelu", geluErf]
  ] as const) {
    it(`matches the scalar computation (${activation})`, () => {
      const w = weightsOf(shape(activation), values)
      for (const tokens of [
        [2, 0, 1],
        [1, 1, 0],
        [0, 2, 2]
      ]) {
        const want = byHand(tokens, gelu)
        const data = seqs(3, 3, [tokens])
        const logits = oracleLogits(w, data)
        expect(logits.length).toBe(9)
        want.logits.flat().forEach((l, i) => expect(logits[i]).toBeCloseTo(l, 12))
        const lp = oracleTokenLogProbs(w, data)
        want.lp.forEach((l, i) => expect(lp[i]).toBeCloseTo(l, 12))
        expect(oracleCodeLengths(w, data)[0]).toBeCloseTo(-(want.lp[0] + want.lp[1] + want.lp[2]), 12)
        expect(oracleLoss(w, data)).toBeCloseTo((-(want.lp[1] + want.lp[2]) / 2) * Math.LN2, 12)
      }
    })
  }

  it("the two activations give different answers (the choice is honoured)", () => {
    const a = oracleTokenLogProbs(weightsOf(shape("gelu_new"), values), seqs(3, 3, [[2, 0, 1]]))
    const b = oracleTokenLogProbs(weightsOf(shape("gelu"), values), seqs(3, 3, [[2, 0, 1]]))
    expect(Math.abs(a[2] - b[2])).toBeGreaterThan(1e-6)
  })

  it("rejects tokens outside the vocabulary and sequences longer than n_positions", () => {
    const w = weightsOf(shape("gelu_new"), values)
    expect(() => oracleLogits(w, seqs(3, 3, [[0, 3, 1]]))).toThrow(/token 3 at index 1 outside the vocabulary of 3/)
    expect(() => oracleLogits(w, seqs(3, 4, [[0, 1, 1, 0]]))).toThrow(/exceed n_positions 3/)
    expect(() => oracleLogits(w, seqs(3, 2, [[0, 1]]), { bos: 3 })).toThrow(/BOS token 3 outside the vocabulary of 3/)
    expect(() => oracleLogits(w, seqs(3, 3, [[0, 1, 1]]), { bos: 2 })).toThrow(/sequences of 4 positions exceed n_positions 3/)
  })
})

describe("erf and GELU", () => {
  it("erf matches known values to ~1e-15", () => {
    const known: ReadonlyArray<readonly [number, number]> = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
      [7, 1]
    ]
    for (const [x, want] of known) expect(Math.abs(erf(x) - want)).toBeLessThan(2e-15)
  })
  it("erf is odd and increasing (property)", () => {
    fc.assert(
      fc.property(fc.double({ min: -8, max: 8, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, dx) => {
        expect(erf(-x)).toBe(-erf(x))
        expect(erf(x + dx)).toBeGreaterThanOrEqual(erf(x))
      })
    )
  })
  it("GELU forms agree with their definitions at a few points", () => {
    expect(geluErf(1)).toBeCloseTo(0.8413447460685429, 14)
    expect(geluTanh(1)).toBeCloseTo(0.8411919906082768, 14)
    expect(geluErf(-3)).toBeCloseTo(-0.004049694094890287, 14)
  })
})

/** Random weights with std 1 (init × 50) so that invariants are tested on a sharp model, not a near-uniform one. */
const sharpModel = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const w = initGpt2Weights(shape, seed)
  const tensors = new Map<string, HostTensor>()
  for (const [name, t] of w.tensors) {
    const data = t.data.map((x) => (name.includes("ln_") && name.endsWith("weight") ? 1 + x : x * 50))
    tensors.set(name, { shape: t.shape, data: name.endsWith(".bias") ? data.map((_, i) => Math.sin(i + seed) * 0.3) : data })
  }
  return { shape, tensors }
}

const caseArb = fc
  .record({
    vocabSize: fc.integer({ min: 2, max: 7 }),
    seqLen: fc.integer({ min: 2, max: 5 }),
    layers: fc.integer({ min: 1, max: 2 }),
    dh: fc.constantFrom(2, 4),
    heads: fc.integer({ min: 1, max: 2 }),
    activation: fc.constantFrom("gelu_new" as const, "gelu" as const),
    tiedHead: fc.boolean(),
    seed: fc.nat({ max: 1000 }),
    count: fc.integer({ min: 1, max: 3 })
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      tokens: fc.array(fc.integer({ min: 0, max: c.vocabSize - 1 }), { minLength: c.count * c.seqLen, maxLength: c.count * c.seqLen })
    })
  )
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never
const build = ({ c, tokens }: Case) => {
  const shape: Gpt2Shape = {
    vocabSize: c.vocabSize,
    nPositions: c.seqLen + 1,
    layers: c.layers,
    dModel: c.dh * c.heads,
    heads: c.heads,
    layerNormEps: 1e-5,
    activation: c.activation,
    tiedHead: c.tiedHead
  }
  return { w: sharpModel(shape, c.seed), data: { vocabSize: c.vocabSize, seqLen: c.seqLen, count: c.count, tokens: Uint32Array.from(tokens) } }
}

/** The same model with its position table cut to the first n rows. */
const withPositions = (w: Gpt2Weights, n: number): Gpt2Weights => {
  const wpe = w.tensors.get("wpe.weight")!
  const d = w.shape.dModel
  return {
    shape: { ...w.shape, nPositions: n },
    tensors: new Map([...w.tensors, ["wpe.weight", { shape: [n, d], data: wpe.data.slice(0, n * d) }]])
  }
}

describe("oracle GPT-2 invariants (properties)", () => {
  it("positions past the sequence are never used: cutting wpe to S rows changes nothing", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const { w, data } = build(k)
        expect([...oracleLogits(withPositions(w, data.seqLen), data)]).toEqual([...oracleLogits(w, data)])
      }),
      { numRuns: 15 }
    )
  })

  it("next-token distributions sum to 1 and log-probs are ≤ 0", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const { w, data } = build(k)
        const logits = oracleLogits(w, data)
        const V = data.vocabSize
        for (let r = 0; r < logits.length / V; r++) {
          const row = logits.subarray(r * V, (r + 1) * V)
          const max = Math.max(...row)
          const z = row.reduce((a, b) => a + Math.exp(b - max), 0)
          const p = [...row].map((l) => Math.exp(l - max) / z)
          expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12)
        }
        for (const lp of oracleTokenLogProbs(w, data)) expect(lp).toBeLessThanOrEqual(0)
      }),
      { numRuns: 30 }
    )
  })

  it("is causal: changing token k never changes the log-probs of tokens before k, nor the logits before k", () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), fc.nat(), (k, posSeed, delta) => {
        const { w, data } = build(k)
        const S = data.seqLen
        const pos = posSeed % S
        const changed = data.tokens.slice()
        for (let n = 0; n < data.count; n++) changed[n * S + pos] = (changed[n * S + pos] + 1 + (delta % (data.vocabSize - 1))) % data.vocabSize
        const other = { ...data, tokens: changed }
        const a = oracleTokenLogProbs(w, data)
        const b = oracleTokenLogProbs(w, other)
        const la = oracleLogits(w, data)
        const lb = oracleLogits(w, other)
        const V = data.vocabSize
        for (let n = 0; n < data.count; n++) {
          for (let t = 0; t < pos; t++) expect(b[n * S + t]).toBe(a[n * S + t])
          for (let t = 0; t < pos; t++) for (let v = 0; v < V; v++) expect(lb[(n * S + t) * V + v]).toBe(la[(n * S + t) * V + v])
          // ... while the changed token's own position does change its logits (the model is not constant).
          let diff = 0
          for (let v = 0; v < V; v++) diff += Math.abs(lb[(n * S + pos) * V + v] - la[(n * S + pos) * V + v])
          expect(diff).toBeGreaterThan(0)
        }
      }),
      { numRuns: 30 }
    )
  })

  it("sequences in a batch are independent, and code lengths/loss are the sums/means of the log-probs", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const { w, data } = build(k)
        const S = data.seqLen
        const all = oracleTokenLogProbs(w, data)
        const cl = oracleCodeLengths(w, data)
        let lossSum = 0
        for (let n = 0; n < data.count; n++) {
          const one = oracleTokenLogProbs(w, { ...data, count: 1, tokens: data.tokens.slice(n * S, (n + 1) * S) })
          expect([...one]).toEqual([...all.subarray(n * S, (n + 1) * S)])
          expect(one[0]).toBe(-Math.log2(data.vocabSize))
          expect(cl[n]).toBeCloseTo(-one.reduce((a, b) => a + b, 0), 10)
          for (let t = 1; t < S; t++) lossSum -= one[t] * Math.LN2
        }
        expect(oracleLoss(w, data)).toBeCloseTo(lossSum / (data.count * (S - 1)), 10)
      }),
      { numRuns: 30 }
    )
  })

  it("an untied head equal to wte gives exactly the tied model's outputs; a different one does not", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const { w, data } = build({ ...k, c: { ...k.c, tiedHead: true } })
        const wte = w.tensors.get("wte.weight")!
        const untied: Gpt2Weights = {
          shape: { ...w.shape, tiedHead: false },
          tensors: new Map([...w.tensors, ["lm_head.weight", { shape: wte.shape, data: wte.data.slice() }]])
        }
        expect([...oracleLogits(untied, data)]).toEqual([...oracleLogits(w, data)])
        const other: Gpt2Weights = {
          shape: untied.shape,
          tensors: new Map([...w.tensors, ["lm_head.weight", { shape: wte.shape, data: wte.data.map((x) => -x) }]])
        }
        expect([...oracleLogits(other, data)]).not.toEqual([...oracleLogits(w, data)])
      }),
      { numRuns: 15 }
    )
  })

  it("with a BOS token every token is predicted, from a prefix that starts at BOS", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const { w, data } = build(k)
        const bos = data.vocabSize - 1
        const withBos = oracleTokenLogProbs(w, data, { bos })
        const S = data.seqLen
        // The BOS model's log-prob of token t equals the plain model's on the sequence [bos, x...] at t + 1.
        const shifted = new Uint32Array(data.count * (S + 1))
        for (let n = 0; n < data.count; n++) {
          shifted[n * (S + 1)] = bos
          shifted.set(data.tokens.subarray(n * S, (n + 1) * S), n * (S + 1) + 1)
        }
        const plain = oracleTokenLogProbs(w, { ...data, seqLen: S + 1, tokens: shifted })
        for (let n = 0; n < data.count; n++) {
          for (let t = 0; t < S; t++) expect(withBos[n * S + t]).toBe(plain[n * (S + 1) + t + 1])
        }
      }),
      { numRuns: 15 }
    )
  })
})

describe("GPT-2 initialisation", () => {
  it("Philox4x32-10 matches the Random123 known-answer vectors", () => {
    const out = new Uint32Array(4)
    const hex = (c: ReadonlyArray<number>, k: ReadonlyArray<number>) =>
      [...philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1], out)].map((x) => x.toString(16).padStart(8, "0")).join(" ")
    expect(hex([0, 0, 0, 0], [0, 0])).toBe("6627e8d5 e169c58d bc57ac4c 9b00dbd8")
    expect(hex([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toBe("408f276d 41c83b0e a20bc7c6 6d5451fd")
    expect(hex([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toBe("d16cfe09 94fdcceb 5001e420 24126ea1")
  })

  it("FNV-1a 32 matches its published test values", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5)
    expect(fnv1a32("a")).toBe(0xe40c292c)
    expect(fnv1a32("foobar")).toBe(0xbf9cf968)
  })

  const shape: Gpt2Shape = { vocabSize: 2048, nPositions: 64, layers: 2, dModel: 32, heads: 4, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
  const w = initGpt2Weights(shape, 7)

  it("gives every tensor of the shape, with GPT-2's scales", () => {
    expect([...w.tensors.keys()]).toEqual(gpt2TensorShapes(shape).map(([n]) => n))
    const stats = (name: string) => {
      const d = w.tensors.get(name)!.data
      const mean = d.reduce((a, b) => a + b, 0) / d.length
      const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length)
      const within1 = d.filter((x) => Math.abs(x) < std).length / d.length
      return { mean, std, within1 }
    }
    const wte = stats("wte.weight") // 65,536 samples
    expect(Math.abs(wte.mean)).toBeLessThan(0.0005)
    expect(Math.abs(wte.std / 0.02 - 1)).toBeLessThan(0.02)
    expect(Math.abs(wte.within1 - 0.6827)).toBeLessThan(0.01)
    const proj = stats("h.1.mlp.c_proj.weight")
    expect(Math.abs(proj.std / (0.02 / Math.sqrt(4)) - 1)).toBeLessThan(0.05)
    expect(Math.abs(stats("h.0.attn.c_proj.weight").std / (0.02 / 2) - 1)).toBeLessThan(0.1)
    expect(Math.abs(stats("h.0.attn.c_attn.weight").std / 0.02 - 1)).toBeLessThan(0.05)
    expect([...w.tensors.get("h.0.ln_1.weight")!.data].every((x) => x === 1)).toBe(true)
    expect([...w.tensors.get("ln_f.bias")!.data].every((x) => x === 0)).toBe(true)
    expect([...w.tensors.get("h.1.mlp.c_fc.bias")!.data].every((x) => x === 0)).toBe(true)
  })

  it("is deterministic from the seed; seeds and tensors get different streams", () => {
    const again = initGpt2Weights(shape, 7)
    for (const [n, t] of w.tensors) expect(again.tensors.get(n)!.data).toEqual(t.data)
    const other = initGpt2Weights(shape, 8)
    expect(other.tensors.get("wte.weight")!.data).not.toEqual(w.tensors.get("wte.weight")!.data)
    expect(w.tensors.get("h.0.attn.c_attn.weight")!.data.subarray(0, 16)).not.toEqual(w.tensors.get("h.1.attn.c_attn.weight")!.data.subarray(0, 16))
    // An untied head does not shift the other tensors' values (streams are per name).
    const untied = initGpt2Weights({ ...shape, tiedHead: false }, 7)
    expect(untied.tensors.get("wte.weight")!.data).toEqual(w.tensors.get("wte.weight")!.data)
    expect(untied.tensors.get("lm_head.weight")!.data).not.toEqual(w.tensors.get("wte.weight")!.data)
  })

  it("element 2k+1 comes from the same Box–Muller pair as element 2k (documented layout)", () => {
    const a = normalStream(3, 99, 5, 1)
    const b = normalStream(3, 99, 4, 1)
    expect([...a.subarray(0, 4)]).toEqual([...b])
    // r² = z0² + z1² = −2 ln u1 > 0 for each pair.
    expect(a[0] ** 2 + a[1] ** 2).toBeGreaterThan(0)
  })
})
