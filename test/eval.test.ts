/**
 * `memorize eval`: checkpoints written here in every dtype and layout are
 * audited on the GPU and compared with the project's float64 evaluator
 * (`oracleCodeLengths`) and with a 1-layer forward pass computed by hand in
 * this file; every bad input is an error naming file:line (or the tensor).
 * One case goes through the real CLI in a child process.
 */
import { mulberry32 } from "@memorize/core"
import { writeF16Safetensors } from "../packages/gpu-webgpu/test/f16-safetensors.ts"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { stderrProgress } from "@memorize/core"
import { bitsLines, EVAL_PROGRESS, evaluate, type EvalResult, prepareEval, writeEvalFiles } from "@memorize/eval"
import { bf16BitsToF32, f32ToBf16Bits } from "../packages/gpu-webgpu/src/checkpoint/dtype.ts"
import { gpt2ConfigText } from "../packages/gpu-webgpu/src/checkpoint/hf-config.ts"
import { saveHfGpt2 } from "../packages/gpu-webgpu/src/checkpoint/hf-gpt2.ts"
import { saveCheckpoint } from "../packages/gpu-webgpu/src/checkpoint/index.ts"
import { writeSafetensors, type WriteTensor } from "../packages/gpu-webgpu/src/checkpoint/safetensors.ts"
import { WebGpu } from "../packages/gpu-webgpu/src/device/webgpu.ts"
import { makeGpuGpt2 } from "../packages/gpu-webgpu/src/model/gpu-model.ts"
import { type Gpt2Shape, type Gpt2Weights, gpt2TensorShapes, type HostTensor } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights, oracleCodeLengths, oracleTokenLogProbs } from "../packages/gpu-webgpu/test/oracle/gpt2.ts"
import { membershipAttack, summarizeBits, unintendedMemorization } from "@memorize/metrics"
import { memorize } from "./cli-helpers.ts"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-eval-"))

const V = 11
const NPOS = 8
const shapeOf = (layers: number, tiedHead: boolean): Gpt2Shape => ({
  vocabSize: V,
  nPositions: NPOS,
  layers,
  dModel: 8,
  heads: 2,
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead
})

/** Sharpened random weights with non-trivial LayerNorms and biases, so code lengths are far from uniform. */
const sharp = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const w = initGpt2Weights(shape, seed)
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) {
    const data = n.endsWith(".bias")
      ? t.data.map((_, i) => 0.2 * Math.sin(1.3 * i + seed + n.length))
      : n.includes("ln_")
        ? t.data.map((x, i) => x + 0.3 * Math.cos(0.7 * i + seed))
        : t.data.map((x) => x * 20)
    tensors.set(n, { shape: t.shape, data })
  }
  return { shape, tensors }
}

/** The same weights with every value mapped (dtype rounding). */
const mapWeights = (w: Gpt2Weights, f: (x: number, name: string) => number): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: t.data.map((x) => f(x, n)) })
  return { shape: w.shape, tensors }
}

const rng = mulberry32

const randomSequences = (count: number, lengths: ReadonlyArray<number>, seed: number): Array<Array<number>> => {
  const r = rng(seed)
  return Array.from({ length: count }, (_, i) => Array.from({ length: lengths[i % lengths.length] }, () => Math.floor(r() * V)))
}

/** JSONL with both accepted line forms and a blank line. */
const writeTokens = (dir: string, name: string, seqs: ReadonlyArray<ReadonlyArray<number>>): string => {
  const file = path.join(dir, name)
  const lines = seqs.map((s, i) => (i % 3 === 1 ? JSON.stringify({ tokens: s, id: `doc-${i}` }) : JSON.stringify(s)))
  lines.splice(Math.min(2, lines.length), 0, "")
  fs.writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

/** The project's float64 evaluator, one sequence at a time (lengths differ). */
const oracle = (w: Gpt2Weights, seqs: ReadonlyArray<ReadonlyArray<number>>) =>
  seqs.map((s) => {
    const data = { vocabSize: V, seqLen: s.length, count: 1, tokens: Uint32Array.from(s) }
    return { bits: oracleCodeLengths(w, data)[0], tokenBits: Array.from(oracleTokenLogProbs(w, data), (x) => -x) }
  })

const expectBits = (got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-5) => {
  expect(got.length, what).toBe(want.length)
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i]), `${what} [${i}]: got ${got[i]}, want ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])))
  }
}

const expectMatchesOracle = (result: EvalResult, w: Gpt2Weights, seqs: ReadonlyArray<ReadonlyArray<number>>, what: string, tol?: number) => {
  const want = oracle(w, seqs)
  expectBits(
    result.members.bits,
    want.map((x) => x.bits),
    `${what}: bits`,
    tol
  )
  seqs.forEach((_, i) => expectBits(result.members.tokenBits[i], want[i].tokenBits, `${what}: token bits of sequence ${i}`, tol))
}

// ---------------------------------------------------------------------------
// Checkpoint writers for the variants the loader must accept.

const tensorsOf = (w: Gpt2Weights, prefix: boolean): Array<WriteTensor> =>
  gpt2TensorShapes(w.shape).map(([name, dims]) => ({
    name: prefix && name !== "lm_head.weight" ? `transformer.${name}` : name,
    shape: dims,
    data: w.tensors.get(name)!.data
  }))

const writeSingle = (dir: string, w: Gpt2Weights, tensors: ReadonlyArray<WriteTensor>) =>
  Effect.gen(function* () {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "config.json"), gpt2ConfigText(w.shape))
    yield* writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" })
  })

/** Two shards + model.safetensors.index.json, as transformers' save_pretrained(max_shard_size=...) writes. */
const writeSharded = (dir: string, w: Gpt2Weights) =>
  Effect.gen(function* () {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "config.json"), gpt2ConfigText(w.shape))
    const all = tensorsOf(w, true)
    const half = Math.ceil(all.length / 2)
    const weightMap: Record<string, string> = {}
    const shards = [all.slice(0, half), all.slice(half)]
    for (let k = 0; k < shards.length; k++) {
      const file = `model-0000${k + 1}-of-00002.safetensors`
      yield* writeSafetensors(path.join(dir, file), shards[k], { format: "pt" })
      for (const t of shards[k]) weightMap[t.name] = file
    }
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }))
  })

/** Values on the k/1024 grid (|k| < 2048) are exact in binary16; the writer there stays exact. */
const toF16Grid = (x: number) => Math.max(-2047, Math.min(2047, Math.round(x * 1024))) / 1024
/** A hand-written F16 safetensors file (the project's writer does F32 and BF16 only). */
const writeF16 = (dir: string, w: Gpt2Weights) => {
  fs.mkdirSync(dir, { recursive: true })
  writeF16Safetensors(
    path.join(dir, "model.safetensors"),
    gpt2TensorShapes(w.shape).map(([name, dims]) => ({ name, dims, values: w.tensors.get(name)!.data }))
  )
  fs.writeFileSync(path.join(dir, "config.json"), gpt2ConfigText(w.shape))
}

// ---------------------------------------------------------------------------
// An independent float64 GPT-2 forward pass (1 layer), written out by hand.

const handLog2Probs = (w: Gpt2Weights, seq: ReadonlyArray<number>): Array<number> => {
  const { vocabSize, dModel: d, heads: H, layerNormEps: eps, layers } = w.shape
  expect(layers).toBe(1)
  const p = (name: string) => Array.from(w.tensors.get(name)!.data)
  const T = seq.length
  const wte = p("wte.weight")
  const wpe = p("wpe.weight")
  const head = w.shape.tiedHead ? wte : p("lm_head.weight")
  const norm = (v: Array<number>, g: Array<number>, b: Array<number>) => {
    const mu = v.reduce((a, x) => a + x, 0) / v.length
    const variance = v.reduce((a, x) => a + (x - mu) ** 2, 0) / v.length
    return v.map((x, i) => ((x - mu) / Math.sqrt(variance + eps)) * g[i] + b[i])
  }
  // Conv1D: W is [in, out], y = x·W + b.
  const conv = (v: Array<number>, W: Array<number>, b: Array<number>) => b.map((bj, j) => v.reduce((a, x, i) => a + x * W[i * b.length + j], bj))
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))
  let x = seq.map((tok, t) => Array.from({ length: d }, (_, i) => wte[tok * d + i] + wpe[t * d + i]))
  const qkv = x.map((row) => conv(norm(row, p("h.0.ln_1.weight"), p("h.0.ln_1.bias")), p("h.0.attn.c_attn.weight"), p("h.0.attn.c_attn.bias")))
  const hd = d / H
  const att = qkv.map((_, t) => {
    const out = new Array<number>(d).fill(0)
    for (let h = 0; h < H; h++) {
      const q = qkv[t].slice(h * hd, (h + 1) * hd)
      const scores = Array.from({ length: t + 1 }, (_, s) => q.reduce((a, qi, i) => a + qi * qkv[s][d + h * hd + i], 0) / Math.sqrt(hd))
      const m = Math.max(...scores)
      const e = scores.map((z) => Math.exp(z - m))
      const z = e.reduce((a, b) => a + b, 0)
      for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) out[h * hd + i] += (e[s] / z) * qkv[s][2 * d + h * hd + i]
    }
    return out
  })
  x = x.map((row, t) => {
    const a = conv(att[t], p("h.0.attn.c_proj.weight"), p("h.0.attn.c_proj.bias"))
    return row.map((v, i) => v + a[i])
  })
  x = x.map((row) => {
    const f = conv(norm(row, p("h.0.ln_2.weight"), p("h.0.ln_2.bias")), p("h.0.mlp.c_fc.weight"), p("h.0.mlp.c_fc.bias")).map(gelu)
    const m = conv(f, p("h.0.mlp.c_proj.weight"), p("h.0.mlp.c_proj.bias"))
    return row.map((v, i) => v + m[i])
  })
  const out = [-Math.log2(vocabSize)]
  for (let t = 1; t < T; t++) {
    const hf = norm(x[t - 1], p("ln_f.weight"), p("ln_f.bias"))
    const logits = Array.from({ length: vocabSize }, (_, v) => hf.reduce((a, hi, i) => a + hi * head[v * d + i], 0))
    const m = Math.max(...logits)
    const lse = m + Math.log(logits.reduce((a, l) => a + Math.exp(l - m), 0))
    out.push((logits[seq[t]] - lse) / Math.LN2)
  }
  return out
}

// ---------------------------------------------------------------------------

layer(WebGpu.layer, { timeout: 300_000 })("memorize eval on the GPU", (it) => {
  it.effect(
    "F32 checkpoint, lengths 1..n_positions: code lengths and per-token bits match the float64 evaluator; one GPU model per length is the same as the full one",
    () =>
      Effect.gen(function* () {
        const dir = tmpDir()
        const w = sharp(shapeOf(2, true), 1)
        yield* saveCheckpoint(path.join(dir, "ck"), w)
        const seqs = randomSequences(20, [1, 2, 3, 4, 5, 6, 7, 8, 8, 5], 7)
        const tokens = writeTokens(dir, "members.jsonl", seqs)
        // On WebGPU, as the whole-checkpoint model below (`auto` is the native CPU on a software adapter: other floats).
        const result = yield* evaluate({ model: path.join(dir, "ck"), tokens, perToken: true, chunk: 3, device: "webgpu" })
        expectMatchesOracle(result, w, seqs, "f32")
        // The first token costs log2 V bits; a one-token sequence costs exactly that.
        expect(result.members.tokenBits[0][0]).toBe(Math.log2(V))
        expect(result.members.bits[0]).toBe(Math.log2(V))
        expect(Array.from(result.members.lengths)).toEqual(seqs.map((s) => s.length))
        // The GPU model built on the whole checkpoint (n_positions 8) gives the same bits for shorter sequences.
        const full = yield* Effect.scoped(
          Effect.gen(function* () {
            const gpu = yield* makeGpuGpt2(w, { precision: "fp32" })
            const fives = seqs.map((s, i) => [s, i] as const).filter(([s]) => s.length === 5)
            const bits = yield* gpu.codeLengths({ vocabSize: V, seqLen: 5, count: fives.length, tokens: Uint32Array.from(fives.flatMap(([s]) => s)) })
            return fives.map(([, i], k) => [i, bits[k]] as const)
          })
        )
        for (const [i, b] of full) expect(Math.abs(result.members.bits[i] - b)).toBeLessThan(1e-9)
        // Summary: totals over members, no reference, no membership.
        const s = result.summary as any
        expect(s.count).toBe(20)
        expect(s.tokens).toBe(seqs.reduce((a, x) => a + x.length, 0))
        expect(s.totalBits).toBeCloseTo(
          result.members.bits.reduce((a, b) => a + b, 0),
          9
        )
        expect(s.meanBits).toBeCloseTo(s.totalBits / 20, 9)
        expect(s.memorization).toBeNull()
        expect(s.membership).toBeNull()
        expect(s.holdout).toBeNull()
        expect(s.model).toMatchObject({ vocabSize: V, nPositions: NPOS, layers: 2, dModel: 8, heads: 2, tiedHead: true })
      })
  )

  it.effect("BF16, F16 and sharded checkpoints give the float64 evaluator's code lengths on the stored (rounded) weights", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const seqs = randomSequences(6, [8, 3], 11)
      const tokens = writeTokens(dir, "m.jsonl", seqs)

      const wb = sharp(shapeOf(2, true), 2)
      yield* saveHfGpt2(path.join(dir, "bf16"), wb, { dtype: "BF16" })
      const bf16 = yield* evaluate({ model: path.join(dir, "bf16"), tokens })
      expectMatchesOracle(
        bf16,
        mapWeights(wb, (x) => bf16BitsToF32(f32ToBf16Bits(x))),
        seqs,
        "bf16"
      )

      const wh = mapWeights(sharp(shapeOf(2, true), 3), toF16Grid)
      writeF16(path.join(dir, "f16"), wh)
      const f16 = yield* evaluate({ model: path.join(dir, "f16"), tokens })
      expectMatchesOracle(f16, wh, seqs, "f16")

      const ws = sharp(shapeOf(2, false), 4)
      yield* writeSharded(path.join(dir, "sharded"), ws)
      const sharded = yield* evaluate({ model: path.join(dir, "sharded"), tokens })
      expectMatchesOracle(sharded, ws, seqs, "sharded (untied)")
      // The index file itself names the same checkpoint.
      const viaIndex = yield* evaluate({ model: path.join(dir, "sharded", "model.safetensors.index.json"), tokens })
      expect(Array.from(viaIndex.members.bits)).toEqual(Array.from(sharded.members.bits))
    })
  )

  it.effect("names with or without the transformer. prefix, tied and untied heads (and a stored copy of a tied head) evaluate alike", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const seqs = randomSequences(5, [6, 2, 8], 13)
      const tokens = writeTokens(dir, "m.jsonl", seqs)
      const tied = sharp(shapeOf(1, true), 5)
      const untied = sharp(shapeOf(1, false), 6)
      const withHeadCopy = [...tensorsOf(tied, false), { name: "lm_head.weight", shape: [V, 8], data: tied.tensors.get("wte.weight")!.data }]
      const variants: ReadonlyArray<readonly [string, Gpt2Weights, ReadonlyArray<WriteTensor>]> = [
        ["tied, prefix", tied, tensorsOf(tied, true)],
        ["tied, no prefix", tied, tensorsOf(tied, false)],
        ["tied, lm_head copy stored", tied, withHeadCopy],
        ["untied, prefix", untied, tensorsOf(untied, true)],
        ["untied, no prefix", untied, tensorsOf(untied, false)]
      ]
      const bits: Record<string, Float64Array> = {}
      for (const [name, w, tensors] of variants) {
        const ck = path.join(dir, name.replace(/[^a-z]+/g, "-"))
        yield* writeSingle(ck, w, tensors)
        const r = yield* evaluate({ model: ck, tokens, perToken: true })
        expectMatchesOracle(r, w, seqs, name)
        expect((r.summary as any).model.tiedHead).toBe(w.shape.tiedHead)
        bits[name] = r.members.bits
      }
      expect(Array.from(bits["tied, no prefix"])).toEqual(Array.from(bits["tied, prefix"]))
      expect(Array.from(bits["untied, no prefix"])).toEqual(Array.from(bits["untied, prefix"]))
      // An untied head really is used: the untied model's bits differ from the tied one's.
      expect(Array.from(bits["untied, prefix"])).not.toEqual(Array.from(bits["tied, prefix"]))
    })
  )

  it.effect("--bos: a checkpoint with a BOS token (id V, vocabulary V + 1) predicts every token, as the float64 evaluator with bos", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const w = sharp({ ...shapeOf(1, true), vocabSize: V + 1 }, 12)
      yield* saveCheckpoint(path.join(dir, "ck"), w)
      const seqs = randomSequences(5, [7, 1, 4], 17)
      const r = yield* evaluate({ model: path.join(dir, "ck"), tokens: writeTokens(dir, "m.jsonl", seqs), bos: true })
      seqs.forEach((s, i) => {
        const data = { vocabSize: V, seqLen: s.length, count: 1, tokens: Uint32Array.from(s) }
        const want = Array.from(oracleTokenLogProbs(w, data, { bos: V }), (x) => -x)
        expectBits(r.members.tokenBits[i], want, `bos token bits ${i}`)
        expect(r.members.tokenBits[i][0]).not.toBe(Math.log2(V))
      })
      expect((r.summary as any).bos).toBe(true)
      // The BOS id itself is not a data token.
      const withBosId = path.join(dir, "bos-id.jsonl")
      fs.writeFileSync(withBosId, `[1, ${V}]\n`)
      expect((yield* Effect.flip(prepareEval({ model: path.join(dir, "ck"), tokens: withBosId, bos: true }))).message).toContain(
        `${withBosId}:1: token 1 is ${V}, expected an integer id in [0, ${V})`
      )
    })
  )

  it.effect("agrees with a 1-layer forward pass computed by hand in float64", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      for (const tiedHead of [true, false]) {
        const w = sharp(shapeOf(1, tiedHead), tiedHead ? 8 : 9)
        const ck = path.join(dir, `ck-${tiedHead}`)
        yield* saveCheckpoint(ck, w)
        const seqs = [[3, 1, 4, 1, 5, 9, 2, 6], [10, 0, 10], [7], [2, 7, 1, 8, 2, 8]]
        const r = yield* evaluate({ model: ck, tokens: writeTokens(dir, `hand-${tiedHead}.jsonl`, seqs), perToken: true })
        seqs.forEach((s, i) => {
          const hand = handLog2Probs(w, s).map((x) => -x)
          expectBits(r.members.tokenBits[i], hand, `hand-computed token bits, sequence ${i}, tied ${tiedHead}`)
          expectBits([r.members.bits[i]], [hand.reduce((a, b) => a + b, 0)], `hand-computed bits, sequence ${i}`)
        })
        // ... and the hand computation agrees with the project's float64 evaluator to float64 precision.
        const ref = oracle(w, seqs)
        seqs.forEach((s, i) =>
          expectBits(
            handLog2Probs(w, s).map((x) => -x),
            ref[i].tokenBits,
            "hand vs oracle",
            1e-10
          )
        )
      }
    })
  )

  it.effect("reference and holdout: memorization and membership inference from the same bits; --out writes bits.jsonl and summary.json", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const model = sharp(shapeOf(2, true), 10)
      const ref = sharp(shapeOf(1, true), 11)
      yield* saveCheckpoint(path.join(dir, "model"), model)
      yield* saveCheckpoint(path.join(dir, "ref"), ref)
      const mem = randomSequences(9, [8, 4, 6], 21)
      const non = randomSequences(7, [8, 5], 22)
      const r = yield* evaluate({
        model: path.join(dir, "model"),
        tokens: writeTokens(dir, "members.jsonl", mem),
        holdout: writeTokens(dir, "holdout.jsonl", non),
        reference: path.join(dir, "ref")
      })
      expectMatchesOracle(r, model, mem, "members")
      expectBits(
        r.holdout!.bits,
        oracle(model, non).map((x) => x.bits),
        "holdout"
      )
      expectBits(
        r.members.referenceBits!,
        oracle(ref, mem).map((x) => x.bits),
        "reference bits, members"
      )
      expectBits(
        r.holdout!.referenceBits!,
        oracle(ref, non).map((x) => x.bits),
        "reference bits, holdout"
      )
      const s = r.summary as any
      expect(s.memorization).toMatchObject(summarizeBits(unintendedMemorization(r.members.referenceBits!, r.members.bits)))
      expect(s.memorization.holdout).toMatchObject(summarizeBits(unintendedMemorization(r.holdout!.referenceBits!, r.holdout!.bits)))
      expect(s.memorization.reference).toMatchObject({ layers: 1, path: path.join(dir, "ref") })
      expect(s.membership).toMatchObject(membershipAttack(r.members.bits, r.holdout!.bits, 0, 0.5))
      expect(s.membership.members).toBe(7)
      expect(s.holdout).toMatchObject({ count: 7, tokens: non.reduce((a, x) => a + x.length, 0) })

      const out = path.join(dir, "out", "nested")
      const paths = yield* writeEvalFiles(r, out, true)
      expect(paths).toEqual([path.join(out, "bits.jsonl"), path.join(out, "summary.json")])
      expect(fs.readdirSync(out).sort()).toEqual(["bits.jsonl", "summary.json"]) // no temporary files left
      const lines = fs
        .readFileSync(paths[0], "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
      expect(lines).toHaveLength(16)
      expect(lines[0]).toMatchObject({ index: 0, set: "members", bits: r.members.bits[0], referenceBits: r.members.referenceBits![0] })
      expect(lines[0].tokenBits).toHaveLength(mem[0].length)
      expect(lines[9]).toMatchObject({ index: 0, set: "holdout", bits: r.holdout!.bits[0] })
      expect(lines[3].memorizedBits).toBe(Math.max(0, r.members.referenceBits![3] - r.members.bits[3]))
      expect(JSON.parse(fs.readFileSync(paths[1], "utf8"))).toEqual(JSON.parse(JSON.stringify(r.summary)))
      // Without --per-token and without a holdout the lines are exactly {index, bits}.
      const plain = yield* evaluate({ model: path.join(dir, "model"), tokens: path.join(dir, "members.jsonl") })
      expect(JSON.parse([...bitsLines(plain, false)][2])).toEqual({ index: 2, bits: plain.members.bits[2] })
    })
  )
})

describe("memorize eval: bad inputs are typed errors naming file:line", () => {
  const setup = Effect.gen(function* () {
    const dir = tmpDir()
    yield* saveCheckpoint(path.join(dir, "ck"), initGpt2Weights(shapeOf(1, true), 0))
    yield* saveCheckpoint(path.join(dir, "short"), initGpt2Weights({ ...shapeOf(1, true), nPositions: 4 }, 0))
    yield* saveCheckpoint(path.join(dir, "v12"), initGpt2Weights({ ...shapeOf(1, true), vocabSize: 12 }, 0))
    const file = (name: string, text: string) => {
      const f = path.join(dir, name)
      fs.writeFileSync(f, text)
      return f
    }
    return { dir, ck: path.join(dir, "ck"), file }
  })
  const fail = (options: Parameters<typeof prepareEval>[0]) => Effect.flip(prepareEval(options))

  it.effect("token ids outside the vocabulary, not integers, or not numbers", () =>
    Effect.gen(function* () {
      const { ck, file } = yield* setup
      for (const [line, what] of [
        ["[1, 11]", "token 1 is 11"],
        ["[-1]", "token 0 is -1"],
        ["[1, 2.5]", "token 1 is 2.5"],
        ['["a"]', 'token 0 is "a"']
      ] as const) {
        const f = file("ids.jsonl", `[1,2]\n\n${line}\n`)
        const e = yield* fail({ model: ck, tokens: f })
        expect(e._tag).toBe("DatasetError")
        expect(e.message).toContain(`${f}:3: ${what}, expected an integer id in [0, 11)`)
      }
    })
  )

  it.effect("sequences longer than n_positions (the model's, or a shorter reference's), and empty ones", () =>
    Effect.gen(function* () {
      const { dir, ck, file } = yield* setup
      const long = file("long.jsonl", `[1]\n${JSON.stringify({ tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9] })}\n`)
      expect((yield* fail({ model: ck, tokens: long })).message).toContain(`${long}:2: 9 tokens, more than the model's n_positions = 8`)
      const five = file("five.jsonl", "[1,2,3]\n[1,2,3,4]\n[1,2,3,4,5]\n")
      expect((yield* fail({ model: ck, tokens: five, reference: path.join(dir, "short") })).message).toContain(
        `${five}:3: 5 tokens, more than the reference model's n_positions = 4`
      )
      const withBos = file("bos.jsonl", "[1,2,3,4,5,6,7,8]\n")
      expect((yield* fail({ model: ck, tokens: withBos, bos: true })).message).toContain(
        `${withBos}:1: 8 tokens, more than the model's n_positions = 8 (one position goes to BOS)`
      )
      const empty = file("empty.jsonl", "[1]\n[]\n")
      expect((yield* fail({ model: ck, tokens: empty })).message).toContain(`${empty}:2: empty sequence`)
    })
  )

  it.effect("malformed lines, blank files, missing files, in the members or the holdout file", () =>
    Effect.gen(function* () {
      const { dir, ck, file } = yield* setup
      const ok = file("ok.jsonl", "[1,2]\n")
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["[1,2]\n[1,2\n", ":2: not valid JSON"],
        ['[1]\n{"ids": [1, 2]}\n', ':2: expected an array of token ids or an object with a "tokens" field, found object'],
        ['{"tokens": "1 2 3"}\n', ':1: "tokens" is string, expected an array of token ids'],
        ["7\n", ':1: expected an array of token ids or an object with a "tokens" field, found number'],
        ["\n\n", ": no sequences"]
      ]
      for (const [text, message] of cases) {
        const bad = file("bad.jsonl", text)
        const asMembers = yield* fail({ model: ck, tokens: bad })
        expect(asMembers._tag).toBe("DatasetError")
        expect(asMembers.message).toContain(`${bad}${message}`)
        expect((asMembers as any).file).toBe(bad)
        const asHoldout = yield* fail({ model: ck, tokens: ok, holdout: bad })
        expect(asHoldout.message).toContain(`${bad}${message}`)
      }
      const missing = yield* fail({ model: ck, tokens: path.join(dir, "nope.jsonl") })
      expect(missing._tag).toBe("DatasetError")
      expect(missing.message).toMatch(/cannot read .*nope\.jsonl/)
    })
  )

  it.effect("a missing or mismatched checkpoint is a ModelError naming the file (and tensor)", () =>
    Effect.gen(function* () {
      const { dir, ck, file } = yield* setup
      const ok = file("ok.jsonl", "[1,2]\n")
      const noModel = yield* fail({ model: path.join(dir, "none"), tokens: ok })
      expect(noModel._tag).toBe("ModelError")
      expect((noModel as any).file).toBe(path.join(dir, "none"))
      const noRef = yield* fail({ model: ck, tokens: ok, reference: path.join(dir, "none") })
      expect(noRef._tag).toBe("ModelError")
      const vocab = yield* fail({ model: ck, tokens: ok, reference: path.join(dir, "v12") })
      expect(vocab._tag).toBe("ModelError")
      expect(vocab.message).toContain("the reference's vocab_size 12 differs from the model's 11")
      expect((vocab as any).file).toBe(path.join(dir, "v12"))
      // A corrupt checkpoint: the loader's typed error comes through.
      const broken = path.join(dir, "broken")
      fs.mkdirSync(broken)
      fs.copyFileSync(path.join(ck, "config.json"), path.join(broken, "config.json"))
      fs.writeFileSync(path.join(broken, "model.safetensors"), new Uint8Array(5))
      const corrupt = yield* fail({ model: broken, tokens: ok })
      expect(corrupt._tag).toBe("ModelError")
      expect(corrupt.message).toMatch(/truncated/)
    })
  )
})

describe("memorize eval: progress on stderr", () => {
  const fakeStream = (isTTY: boolean) => {
    const writes: Array<string> = []
    return { writes, stream: { isTTY, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream }
  }
  it("a line every tenth for long inputs off a TTY, nothing for short ones; a bar redrawn in place and cleared on a TTY", () => {
    const plain = fakeStream(false)
    const p = stderrProgress(EVAL_PROGRESS, plain.stream)
    for (let done = 0; done <= 2000; done += 100) p.update(done, 2000)
    p.close()
    expect(plain.writes).toHaveLength(11)
    expect(plain.writes[10]).toMatch(/^eval 2000\/2000 sequences, [\d.]+ seq\/s\n$/)
    const short = fakeStream(false)
    const q = stderrProgress(EVAL_PROGRESS, short.stream)
    q.update(10, 10)
    expect(short.writes).toEqual([])
    const tty = fakeStream(true)
    const r = stderrProgress(EVAL_PROGRESS, tty.stream)
    r.update(5, 10)
    r.update(10, 10)
    r.close()
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal control sequence is what is tested
    expect(tty.writes[0]).toMatch(/^\r\x1b\[2K█+░+ eval 5\/10 sequences/)
    expect(tty.writes.at(-1)).toBe("\r\x1b[2K")
  })
})

describe("memorize eval (child process)", () => {
  it("prints one line per sequence then the summary; a bad line exits non-zero naming file:line, before the GPU starts", async () => {
    const dir = tmpDir()
    const model = sharp(shapeOf(1, true), 30)
    const ref = sharp(shapeOf(1, true), 31)
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* saveCheckpoint(path.join(dir, "model"), model)
        yield* saveHfGpt2(path.join(dir, "ref"), ref, { dtype: "BF16" })
      })
    )
    {
      const mem = randomSequences(5, [8, 3], 41)
      const non = randomSequences(4, [8, 2], 42)
      writeTokens(dir, "members.jsonl", mem)
      writeTokens(dir, "holdout.jsonl", non)
      const r = memorize(["eval", "--model", "model", "--tokens", "members.jsonl", "--holdout", "holdout.jsonl", "--reference", "ref", "--per-token"], {
        cwd: dir
      })
      expect(r.code, r.stderr).toBe(0)
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
      expect(lines).toHaveLength(5 + 4 + 1)
      const want = oracle(model, mem)
      lines.slice(0, 5).forEach((l, i) => {
        expect(l).toMatchObject({ index: i, set: "members" })
        expectBits([l.bits], [want[i].bits], `cli bits ${i}`)
        expectBits(l.tokenBits, want[i].tokenBits, `cli token bits ${i}`)
      })
      const refBf16 = mapWeights(ref, (x) => bf16BitsToF32(f32ToBf16Bits(x)))
      expectBits(
        lines.slice(5, 9).map((l) => l.referenceBits),
        oracle(refBf16, non).map((x) => x.bits),
        "cli reference bits (BF16 reference)"
      )
      const summary = lines[9]
      expect(summary.count).toBe(5)
      expect(summary.holdout.count).toBe(4)
      expect(summary.membership.members).toBe(4)
      expect(summary.memorization.count).toBe(5)
      expect(summary.model.path).toBe(path.join(dir, "model"))

      fs.writeFileSync(path.join(dir, "bad.jsonl"), "[1,2]\n[1,99]\n")
      const bad = memorize(["eval", "--model", "model", "--tokens", "bad.jsonl"], { cwd: dir })
      expect(bad.code).toBe(1)
      expect(bad.stdout).toBe("")
      expect(bad.stderr).toContain(`${path.join(dir, "bad.jsonl")}:2: token 1 is 99, expected an integer id in [0, 11)`)
      expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/)
      expect(bad.stderr).not.toMatch(/maxDynamic/) // failed before Dawn started
    }
  }, 240_000)
})
