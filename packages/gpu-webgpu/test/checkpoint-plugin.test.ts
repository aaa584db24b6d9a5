import { describe, expect, it, layer } from "@effect/vitest"
import type { Dataset, TokenSequences, TrainedModel, TrainInput } from "@memorize/core"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { loadCheckpoint, saveCheckpoint } from "../src/checkpoint/index.ts"
import { checkpointFit, checkpointTrainer } from "../src/checkpoint/plugin.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../src/model/weights.ts"
import { initGpt2Weights, oracleCodeLengths, oracleLoss, oracleTokenLogProbs } from "./oracle/gpt2.ts"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-ckpt-plugin-"))

const shape: Gpt2Shape = { vocabSize: 11, nPositions: 8, layers: 2, dModel: 8, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }

/** Sharpened random weights, so code lengths are far from uniform and differences show. */
const sharp = (s: Gpt2Shape, seed: number): Gpt2Weights => {
  const w = initGpt2Weights(s, seed)
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: n.includes("ln_") ? t.data : t.data.map((x) => x * 20) })
  return { shape: s, tensors }
}

const sequences = (vocabSize: number, seqLen: number, count: number, seed: number): TokenSequences => {
  const tokens = new Uint32Array(count * seqLen)
  for (let i = 0; i < tokens.length; i++) tokens[i] = (i * 7 + seed * 13 + ((i * i) % 5)) % vocabSize
  return { vocabSize, seqLen, count, tokens }
}

const dataset = (vocabSize: number, seqLen: number): Dataset => ({
  kind: "test-data",
  vocabSize,
  seqLen,
  train: sequences(vocabSize, seqLen, 5, 1),
  holdout: sequences(vocabSize, seqLen, 3, 2),
  fingerprint: "test",
  stats: {}
})

const input = (specDir: string, data: Dataset): TrainInput => ({
  model: { kind: "gpt2", vocabSize: data.vocabSize, seqLen: data.seqLen, paramCount: 0, config: {} },
  dataset: data,
  context: { seed: 0, specDir, runDir: specDir, cacheDir: specDir },
  onProgress: () => Effect.void
})

const decode = Schema.decodeUnknownSync(checkpointTrainer.config)

describe("checkpoint trainer: config and fit", () => {
  it("decodes its config with defaults", () => {
    expect(decode({ path: "x" })).toEqual({ path: "x", precision: "fp32", bos: false, lossSample: 256, device: "auto" })
    expect(decode({ path: "x", device: "cpu" }).device).toBe("cpu")
    expect(() => decode({ path: "x", device: "tpu" })).toThrow()
    expect(decode({ path: "x", precision: "bf16", bos: true, lossSample: 1 }).precision).toBe("bf16")
    expect(() => decode({ path: "x", lossSample: 0 })).toThrow()
    expect(() => decode({ path: "x", precision: "fp64" })).toThrow()
    expect(() => decode({})).toThrow()
  })

  it("fits exactly when vocab = V (+1 with BOS) and n_positions ≥ S (+1 with BOS)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 60 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 2, max: 60 }),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        (modelV, nPos, dataV, dataS, bos) => {
          const err = checkpointFit({ ...shape, vocabSize: modelV, nPositions: nPos }, { kind: "d", vocabSize: dataV, seqLen: dataS }, bos, "/ck")
          const fits = modelV === dataV + (bos ? 1 : 0) && nPos >= dataS + (bos ? 1 : 0)
          expect(err === undefined).toBe(fits)
          if (err !== undefined) {
            expect(err.file).toBe("/ck")
            expect(err.message).toMatch(modelV !== dataV + (bos ? 1 : 0) ? /vocab_size/ : /n_positions/)
          }
        }
      )
    )
  })
})

layer(WebGpu.layer, { timeout: 120_000 })("checkpoint trainer on the GPU", (it) => {
  it.effect("loads a saved checkpoint (relative path) and evaluates it like the float64 oracle", () =>
    Effect.gen(function* () {
      const specDir = tmpDir()
      const w = sharp(shape, 21)
      yield* saveCheckpoint(path.join(specDir, "ck"), w)
      const data = dataset(11, 6)
      const model: TrainedModel = yield* checkpointTrainer.make(decode({ path: "ck" }))(input(specDir, data))
      expect(model.vocabSize).toBe(11)
      // n_positions 8 > S = 6: the model evaluates 6-token sequences.
      expect(model.seqLen).toBe(6)
      expect(model.description.config.nPositions).toBe(8)
      expect(model.precision).toBe("fp32")
      expect(model.paramCount).toBe(11 * 8 + 8 * 8 + 2 * (12 * 64 + 13 * 8) + 2 * 8)
      expect(model.train?.stopReason).toBe("loaded")
      const want = oracleCodeLengths(w, data.holdout)
      const got = yield* model.codeLengths(data.holdout)
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-3 * Math.max(1, want[i]))
      const lpWant = oracleTokenLogProbs(w, data.train)
      const lpGot = yield* model.tokenLogProbs(data.train)
      for (let i = 0; i < lpWant.length; i++) expect(Math.abs(lpGot[i] - lpWant[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(lpWant[i])))
      expect(Math.abs(model.train!.finalLoss - oracleLoss(w, data.train))).toBeLessThan(1e-3)
      // save() writes the checkpoint it loaded, unchanged.
      const out = path.join(specDir, "saved")
      yield* model.save(out)
      const back = yield* loadCheckpoint(out)
      for (const [n, t] of w.tensors) expect(back.tensors.get(n)!.data).toEqual(t.data)
    })
  )

  it.effect("with bos: the checkpoint's vocabulary is V + 1 and every token is predicted from BOS = V", () =>
    Effect.gen(function* () {
      const specDir = tmpDir()
      const w = sharp({ ...shape, vocabSize: 11 }, 5)
      yield* saveCheckpoint(path.join(specDir, "ck"), w)
      const data = dataset(10, 7)
      const model = yield* checkpointTrainer.make(decode({ path: path.join(specDir, "ck"), bos: true }))(input("/", data))
      expect(model.vocabSize).toBe(10)
      expect(model.seqLen).toBe(7)
      const want = oracleCodeLengths(w, { ...data.holdout, vocabSize: 11 }, { bos: 10 })
      const got = yield* model.codeLengths(data.holdout)
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-3 * Math.max(1, want[i]))
    })
  )

  it.effect("refuses a checkpoint that does not fit the dataset, naming what differs", () =>
    Effect.gen(function* () {
      const specDir = tmpDir()
      yield* saveCheckpoint(path.join(specDir, "ck"), sharp(shape, 1))
      const make = (data: Dataset) => Effect.flip(checkpointTrainer.make(decode({ path: "ck" }))(input(specDir, data)))
      const vocab = yield* make(dataset(12, 6))
      expect(vocab._tag).toBe("ModelError")
      expect(vocab.message).toContain("checkpoint vocab_size 11")
      expect(vocab.message).toContain("vocabulary is 12")
      const positions = yield* make(dataset(11, 9))
      expect(positions.message).toContain("n_positions 8")
      expect(positions.message).toContain("9 tokens")
      expect(positions._tag === "ModelError" && positions.tensor).toBe("transformer.wpe.weight")
      const missing = yield* Effect.flip(checkpointTrainer.make(decode({ path: "nope" }))(input(specDir, dataset(11, 6))))
      expect(missing._tag === "ModelError" && missing.file).toBe(path.join(specDir, "nope"))
      // validate finds the missing checkpoint first, and a folder without weights.
      const run = { dataset: {} }
      expect((yield* checkpointTrainer.check!(decode({ path: "nope" }), { specDir, run }))[0].message).toBe(`no checkpoint at ${path.join(specDir, "nope")}`)
      fs.mkdirSync(path.join(specDir, "empty"))
      expect((yield* checkpointTrainer.check!(decode({ path: "empty" }), { specDir, run }))[0].message).toMatch(/neither model.safetensors/)
      expect(yield* checkpointTrainer.check!(decode({ path: "ck" }), { specDir, run })).toEqual([])
    })
  )

  it.effect("evaluates the same on the native CPU and on WebGPU (device cpu | webgpu)", () =>
    Effect.gen(function* () {
      const specDir = tmpDir()
      yield* saveCheckpoint(path.join(specDir, "ck"), sharp(shape, 3))
      const data = dataset(11, 8)
      const bits = (device: string) =>
        Effect.flatMap(checkpointTrainer.make(decode({ path: "ck", device }))(input(specDir, data)), (m) =>
          Effect.map(m.codeLengths(data.holdout), (b) => [m, b] as const)
        )
      const [cpu, onCpu] = yield* bits("cpu")
      const [gpu, onGpu] = yield* bits("webgpu")
      expect(cpu.provenance?.backend).toBe("cpu")
      expect(gpu.provenance?.backend).toBe("webgpu")
      for (let i = 0; i < onCpu.length; i++) expect(Math.abs(onCpu[i] - onGpu[i])).toBeLessThan(1e-4 * onGpu[i])
    })
  )
})
