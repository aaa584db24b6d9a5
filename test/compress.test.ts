/**
 * `memorize compress` / `decompress` with real GPT-2 checkpoints on both
 * backends (native CPU and WebGPU): exact round trips (mixed lengths, BOS),
 * the backend recorded and used again to decode, code lengths that agree with
 * `memorize eval`, sizes within the coder's bound, a changed weight or a
 * corrupted byte refused. Then the whole path a user takes, in child
 * processes: `memorize run` trains a tiny GPT-2 with the compression metric,
 * and the saved checkpoint compresses and decompresses through the CLI.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { DatasetError, ModelError, mulberry32 } from "@memorize/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { compressFile, decompressFile, weightsHash } from "../bin/compress.ts"
import { evaluate } from "@memorize/eval"
import { saveCheckpoint } from "../packages/gpu-webgpu/src/checkpoint/index.ts"
import { WebGpu } from "../packages/gpu-webgpu/src/device/webgpu.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights } from "../packages/gpu-webgpu/src/model/init.ts"
import { memorize, writeSpec } from "./cli-helpers.ts"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-compress-"))

const V = 11
const shape: Gpt2Shape = { vocabSize: V, nPositions: 8, layers: 1, dModel: 8, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }

/** Random weights scaled up so the model's predictions are far from uniform. */
const sharp = (s: Gpt2Shape, seed: number): Gpt2Weights => {
  const w = initGpt2Weights(s, seed)
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: n.includes("ln_") || n.endsWith(".bias") ? t.data : t.data.map((x) => x * 15) })
  return { shape: s, tensors }
}

/** `count` sequences of lengths 1..maxLen (every length present), as a JSONL file. */
const tokenFile = (dir: string, count: number, maxLen: number, vocab: number, seed: number) => {
  const r = mulberry32(seed)
  const seqs = Array.from({ length: count }, (_, i) => Array.from({ length: 1 + (i % maxLen) }, () => Math.floor(r() * vocab)))
  const file = path.join(dir, `tokens-${seed}.jsonl`)
  fs.writeFileSync(file, seqs.map((s) => JSON.stringify(s)).join("\n") + "\n")
  return { file, seqs }
}

layer(WebGpu.layer, { timeout: 300_000 })("compress / decompress", (it) => {
  for (const device of ["cpu", "webgpu"] as const) {
    it.effect(`${device}: round trip is exact over mixed lengths; code lengths match memorize eval; every size within its bound`, () =>
      Effect.gen(function* () {
        const dir = tmpDir()
        const ck = path.join(dir, "ck")
        yield* saveCheckpoint(ck, sharp(shape, 1))
        const { file, seqs } = tokenFile(dir, 40, shape.nPositions, V, 5)
        const out = path.join(dir, "c.mzac")
        const summary = yield* compressFile({ model: ck, tokens: file, out, batch: 3, device })
        expect(summary).toMatchObject({
          count: 40,
          tokens: seqs.reduce((a, s) => a + s.length, 0),
          bytes: fs.statSync(out).size,
          backend: device,
          precision: "fp32"
        })
        expect(summary.payloadBits).toBeLessThanOrEqual(summary.boundBits)
        expect(summary.overheadBitsPerSequence).toBeLessThanOrEqual(2.01)
        // The coder's code length (its own softmax of the float32 logits) is memorize eval's, up to float32 rounding.
        const evaluated = yield* evaluate({ model: ck, tokens: file, device })
        const evalTotal = evaluated.members.bits.reduce((a, b) => a + b, 0)
        expect(Math.abs(summary.codeLengthBits - evalTotal)).toBeLessThan(1e-4 * evalTotal)
        const back = yield* decompressFile({ model: ck, input: out })
        expect(back.sequences.map((s) => Array.from(s))).toEqual(seqs)
        expect(back.header).toMatchObject({ count: 40, seqLen: shape.nPositions, vocab: V, batch: 3, bos: false, backend: device })
      })
    )
  }

  for (const device of ["cpu", "webgpu"] as const) {
    it.effect(`${device}: with a BOS token the header carries it, and every token (the first too) is predicted`, () =>
      Effect.gen(function* () {
        const dir = tmpDir()
        const ck = path.join(dir, "ck")
        yield* saveCheckpoint(ck, sharp(shape, 2))
        // Data vocabulary V − 1 (the last id is BOS); at most n_positions − 1 tokens.
        const { file, seqs } = tokenFile(dir, 12, shape.nPositions - 1, V - 1, 6)
        const out = path.join(dir, "b.mzac")
        const summary = yield* compressFile({ model: ck, tokens: file, out, bos: true, batch: 5, device })
        // The coder sees the data vocabulary's logits only (BOS never occurs inside data), so its
        // softmax leaves BOS out and its code length is below eval's, which keeps BOS's mass.
        const evaluated = yield* evaluate({ model: ck, tokens: file, bos: true, device })
        const evalTotal = evaluated.members.bits.reduce((a, b) => a + b, 0)
        expect(summary.codeLengthBits).toBeLessThan(evalTotal)
        expect(summary.payloadBits).toBeLessThanOrEqual(summary.boundBits)
        expect(summary.payloadBits).toBeLessThanOrEqual(evalTotal + 12 * 2.01)
        const back = yield* decompressFile({ model: ck, input: out })
        expect(back.header).toMatchObject({ bos: true, backend: device })
        expect(back.sequences.map((s) => Array.from(s))).toEqual(seqs)
      })
    )
  }

  it.effect("one changed weight is a different model; a corrupted byte is refused before any evaluation", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const w = sharp(shape, 3)
      const tensors = new Map(w.tensors)
      const h = tensors.get("h.0.mlp.c_fc.weight")!
      const data = h.data.slice()
      data[17] = Math.fround(data[17] * (1 + 2 ** -20))
      tensors.set("h.0.mlp.c_fc.weight", { shape: h.shape, data })
      const changed = { shape, tensors }
      expect(weightsHash(changed)).not.toBe(weightsHash(w))
      yield* saveCheckpoint(path.join(dir, "a"), w)
      yield* saveCheckpoint(path.join(dir, "b"), changed)
      const { file } = tokenFile(dir, 6, shape.nPositions, V, 7)
      const out = path.join(dir, "a.mzac")
      yield* compressFile({ model: path.join(dir, "a"), tokens: file, out })
      const mismatch = yield* Effect.flip(decompressFile({ model: path.join(dir, "b"), input: out }))
      expect(mismatch).toBeInstanceOf(ModelError)
      expect(mismatch.message).toMatch(
        /these weights hash to .*, but .*a\.mzac was compressed with a model whose weights hash to .*: decompress with the same checkpoint/
      )
      const bytes = fs.readFileSync(out)
      bytes[bytes.length - 3] ^= 0x10
      const bad = path.join(dir, "bad.mzac")
      fs.writeFileSync(bad, bytes)
      const corrupted = yield* Effect.flip(decompressFile({ model: path.join(dir, "a"), input: bad }))
      expect(corrupted).toBeInstanceOf(DatasetError)
      expect(corrupted.message).toMatch(/^byte 132: checksum mismatch .*: the file is corrupted or truncated/)
      expect((corrupted as DatasetError).file).toBe(bad)
    })
  )
})

describe("through the CLI, with a GPT-2 trained by memorize run", () => {
  const timeout = 300_000
  it(
    "the compression metric verifies memorization in a run; the saved model compresses and decompresses exactly",
    () => {
      const { dir, file: spec } = writeSpec(`name: compress-e2e
seed: 1
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 8, samples: 32, holdout: 16 }
model: { kind: gpt2, layers: 1, dModel: 16, heads: 2 }
train: { kind: webgpu, precision: fp32, batchSize: 32, lr: 0.02, maxSteps: 60 }
metrics: [ { kind: memorization }, { kind: compression, batch: 12 } ]
store: { saveModels: true }
`)
      const run = memorize(["run", spec], { cwd: dir, timeoutMs: timeout })
      expect(run.code, run.stderr).toBe(0)
      const store = path.join(dir, "runs", "compress-e2e")
      const [runId] = fs.readdirSync(store).filter((d) => fs.existsSync(path.join(store, d, "result.json")))
      const result = JSON.parse(fs.readFileSync(path.join(store, runId, "result.json"), "utf8"))
      const c = result.metrics.compression
      expect(c.entropy).toBe("exact")
      for (const set of [c.train, c.holdout]) {
        expect(set.roundTrip.exact).toBe(set.count)
        expect(set.maxSlackBits).toBeLessThanOrEqual(0)
        expect(set.quantizationLossBits).toBeLessThanOrEqual(set.quantizationBoundBits)
      }
      // The trained model memorized its members: verified within 2.1 bits per sequence of the estimate.
      expect(c.estimateBits).toBeCloseTo(result.metrics.memorization.totalMemorization.totalBits, 6)
      expect(c.verifiedBits).toBeGreaterThan(0)
      expect(c.verifiedBits).toBeGreaterThanOrEqual(c.estimateBits - 32 * 2.1)
      expect(fs.readFileSync(path.join(store, "report.md"), "utf8")).toMatch(/## Memorization: estimate vs verified \(compression\)/)

      const model = path.join(store, runId)
      const r = mulberry32(9)
      const seqs = Array.from({ length: 20 }, (_, i) => Array.from({ length: 1 + (i % 8) }, () => Math.floor(r() * 16)))
      const tokens = path.join(dir, "seqs.jsonl")
      fs.writeFileSync(tokens, seqs.map((s) => JSON.stringify({ tokens: s })).join("\n") + "\n")
      const compressed = memorize(["compress", "--model", model, "--tokens", tokens, "--batch", "7"], { cwd: dir, timeoutMs: timeout })
      expect(compressed.code, compressed.stderr).toBe(0)
      const summary = JSON.parse(compressed.stdout.trim().split("\n").at(-1)!)
      expect(summary).toMatchObject({ file: `${tokens}.mzac`, count: 20 })
      expect(summary.payloadBits).toBeLessThanOrEqual(summary.boundBits)
      const back = path.join(dir, "back.jsonl")
      const decompressed = memorize(["decompress", "--model", model, "--in", `${tokens}.mzac`, "--out", back], { cwd: dir, timeoutMs: timeout })
      expect(decompressed.code, decompressed.stderr).toBe(0)
      expect(
        fs
          .readFileSync(back, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      ).toEqual(seqs)
      const toStdout = memorize(["decompress", "--model", model, "--in", `${tokens}.mzac`], { cwd: dir, timeoutMs: timeout })
      expect(
        toStdout.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      ).toEqual(seqs)

      // Bad usage and a truncated file: clear messages, exit codes 2 and 1.
      const badBatch = memorize(["compress", "--model", model, "--tokens", tokens, "--batch", "0"], { cwd: dir, timeoutMs: timeout })
      expect(badBatch.code).toBe(2)
      expect(badBatch.stderr).toMatch(/--batch.*expected an integer ≥ 1/)
      const truncated = path.join(dir, "short.mzac")
      fs.writeFileSync(truncated, fs.readFileSync(`${tokens}.mzac`).subarray(0, 100))
      const cut = memorize(["decompress", "--model", model, "--in", truncated], { cwd: dir, timeoutMs: timeout })
      expect(cut.code).toBe(1)
      expect(cut.stderr).toMatch(/DatasetError \(.*short\.mzac\): byte 100: the file has 100 bytes, fewer than the 164-byte header/)
    },
    timeout
  )
})
