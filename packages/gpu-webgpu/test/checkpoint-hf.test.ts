import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bf16BitsToF32, f32ToBf16Bits } from "../src/checkpoint/dtype.ts"
import { writeF16Safetensors } from "./f16-safetensors.ts"
import { gpt2ConfigText } from "../src/checkpoint/hf-config.ts"
import { saveHfGpt2 } from "../src/checkpoint/hf-gpt2.ts"
import { loadCheckpoint, saveCheckpoint } from "../src/checkpoint/index.ts"
import { readSafetensors, writeSafetensors, type WriteTensor } from "../src/checkpoint/safetensors.ts"
import { type Gpt2Shape, type Gpt2Weights, gpt2TensorShapes } from "../src/model/weights.ts"
import { initGpt2Weights, oracleTokenLogProbs } from "./oracle/gpt2.ts"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-hf-"))

const shape: Gpt2Shape = {
  vocabSize: 11,
  nPositions: 6,
  layers: 2,
  dModel: 8,
  heads: 2,
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead: true
}

/** The model's tensors as stored by transformers: prefixed names, optional extras, optional renames. */
const hfTensors = (w: Gpt2Weights, opts: { prefix?: boolean; extra?: ReadonlyArray<WriteTensor> } = {}): Array<WriteTensor> => [
  ...gpt2TensorShapes(w.shape).map(([name, dims]) => ({
    name: (opts.prefix ?? true) && name !== "lm_head.weight" ? `transformer.${name}` : name,
    shape: dims,
    data: w.tensors.get(name)!.data
  })),
  ...(opts.extra ?? [])
]

const writeCheckpoint = (dir: string, s: Gpt2Shape, tensors: ReadonlyArray<WriteTensor>, config?: string) =>
  Effect.gen(function* () {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "config.json"), config ?? gpt2ConfigText(s))
    yield* writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" })
  })

const expectSameWeights = (a: Gpt2Weights, b: Gpt2Weights) => {
  expect(a.shape).toEqual(b.shape)
  expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort())
  for (const [name, t] of b.tensors) {
    expect(a.tensors.get(name)!.shape).toEqual(t.shape)
    expect(a.tensors.get(name)!.data).toEqual(t.data)
  }
}

describe("Hugging Face GPT-2 checkpoints: save → load", () => {
  it.effect("round-trips initGpt2Weights exactly, with transformers' names and config", () =>
    Effect.gen(function* () {
      const dir = path.join(tmpDir(), "run")
      const w = initGpt2Weights(shape, 3)
      yield* saveCheckpoint(dir, w)
      expect(fs.readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"])
      const stored = yield* readSafetensors(path.join(dir, "model.safetensors"))
      expect([...stored.keys()]).toContain("transformer.h.1.attn.c_attn.weight")
      expect(stored.get("transformer.h.1.attn.c_attn.weight")!.shape).toEqual([8, 24])
      expect(stored.get("transformer.h.0.mlp.c_proj.weight")!.shape).toEqual([32, 8])
      expect(stored.has("lm_head.weight")).toBe(false)
      expect([...stored.keys()].every((k) => k.startsWith("transformer."))).toBe(true)
      const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"))
      expect(config).toMatchObject({
        model_type: "gpt2",
        architectures: ["GPT2LMHeadModel"],
        vocab_size: 11,
        n_positions: 6,
        n_ctx: 6,
        n_embd: 8,
        n_layer: 2,
        n_head: 2,
        n_inner: null,
        activation_function: "gelu_new",
        resid_pdrop: 0,
        embd_pdrop: 0,
        attn_pdrop: 0,
        layer_norm_epsilon: 1e-5,
        initializer_range: 0.02,
        tie_word_embeddings: true,
        bos_token_id: 10,
        eos_token_id: 10,
        scale_attn_weights: true,
        torch_dtype: "float32"
      })
      expect(Object.keys(config)).toEqual(Object.keys(config).sort())
      const back = yield* loadCheckpoint(dir)
      expectSameWeights(back, w)
      const data = { vocabSize: 11, seqLen: 6, count: 2, tokens: Uint32Array.from([1, 2, 3, 4, 5, 6, 10, 0, 0, 9, 8, 7]) }
      expect(oracleTokenLogProbs(back, data)).toEqual(oracleTokenLogProbs(w, data))
      // Saving again over it replaces both files and leaves no temporary file.
      yield* saveCheckpoint(dir, initGpt2Weights(shape, 4))
      expect(fs.readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"])
      expectSameWeights(yield* loadCheckpoint(dir), initGpt2Weights(shape, 4))
    })
  )

  it("round-trips any shape (property)", async () => {
    const root = tmpDir()
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          vocabSize: fc.integer({ min: 2, max: 40 }),
          seqLen: fc.integer({ min: 1, max: 9 }),
          layers: fc.integer({ min: 1, max: 3 }),
          heads: fc.integer({ min: 1, max: 3 }),
          dh: fc.integer({ min: 1, max: 4 }),
          activation: fc.constantFrom("gelu_new" as const, "gelu" as const),
          tiedHead: fc.boolean(),
          eps: fc.constantFrom(1e-5, 1e-6, 0.25),
          seed: fc.nat()
        }),
        async (c) => {
          const s: Gpt2Shape = {
            vocabSize: c.vocabSize,
            nPositions: c.seqLen,
            layers: c.layers,
            dModel: c.heads * c.dh,
            heads: c.heads,
            layerNormEps: c.eps,
            activation: c.activation,
            tiedHead: c.tiedHead
          }
          const w = initGpt2Weights(s, c.seed)
          const dir = path.join(root, `m${c.seed}`)
          await Effect.runPromise(saveCheckpoint(dir, w))
          expectSameWeights(await Effect.runPromise(loadCheckpoint(dir)), w)
        }
      ),
      { numRuns: 25 }
    )
  })

  it.effect("untied head: lm_head.weight saved and loaded; equal to wte means tied", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const w = initGpt2Weights({ ...shape, tiedHead: false }, 5)
      yield* saveCheckpoint(dir, w)
      expect((yield* readSafetensors(path.join(dir, "model.safetensors"))).has("lm_head.weight")).toBe(true)
      expect(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")).tie_word_embeddings).toBe(false)
      const back = yield* loadCheckpoint(dir)
      expect(back.shape.tiedHead).toBe(false)
      expectSameWeights(back, w)
      // An lm_head identical to wte (some exporters write the tied copy) loads as tied.
      const tied = initGpt2Weights(shape, 5)
      const dir2 = tmpDir()
      yield* writeCheckpoint(
        dir2,
        shape,
        hfTensors(tied, {
          extra: [{ name: "lm_head.weight", shape: [11, 8], data: tied.tensors.get("wte.weight")!.data }]
        })
      )
      const back2 = yield* loadCheckpoint(dir2)
      expect(back2.shape.tiedHead).toBe(true)
      expect(back2.tensors.has("lm_head.weight")).toBe(false)
    })
  )

  it.effect("loads names without the transformer. prefix, and ignores attention mask buffers", () =>
    Effect.gen(function* () {
      const w = initGpt2Weights(shape, 9)
      const mask = { shape: [1, 1, 6, 6], data: new Float32Array(36).fill(1) }
      for (const prefix of [true, false]) {
        const dir = tmpDir()
        const p = prefix ? "transformer." : ""
        yield* writeCheckpoint(
          dir,
          shape,
          hfTensors(w, {
            prefix,
            extra: [
              { name: `${p}h.0.attn.bias`, ...mask },
              { name: `${p}h.1.attn.masked_bias`, shape: [], data: Float32Array.from([-1e4]) }
            ]
          })
        )
        expectSameWeights(yield* loadCheckpoint(dir), w)
      }
    })
  )

  it.effect("accepts a folder, the .safetensors file, or a sharded index", () =>
    Effect.gen(function* () {
      const w = initGpt2Weights(shape, 1)
      const dir = tmpDir()
      yield* saveCheckpoint(dir, w)
      expectSameWeights(yield* loadCheckpoint(path.join(dir, "model.safetensors")), w)
      const sharded = tmpDir()
      fs.writeFileSync(path.join(sharded, "config.json"), gpt2ConfigText(shape))
      const all = hfTensors(w)
      const weightMap: Record<string, string> = {}
      const shards = [all.slice(0, 10), all.slice(10)]
      for (const [i, part] of shards.entries()) {
        const f = `model-0000${i + 1}-of-00002.safetensors`
        yield* writeSafetensors(path.join(sharded, f), part, { format: "pt" })
        for (const t of part) weightMap[t.name] = f
      }
      fs.writeFileSync(path.join(sharded, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }))
      expectSameWeights(yield* loadCheckpoint(sharded), w)
      expectSameWeights(yield* loadCheckpoint(path.join(sharded, "model.safetensors.index.json")), w)
    })
  )

  it.effect("loads BF16 and F16 checkpoints as Float32", () =>
    Effect.gen(function* () {
      const w = initGpt2Weights(shape, 2)
      const dir = tmpDir()
      yield* saveHfGpt2(dir, w, { dtype: "BF16" })
      const back = yield* loadCheckpoint(dir)
      for (const [name, t] of w.tensors) {
        expect([...back.tensors.get(name)!.data]).toEqual([...t.data].map((x) => bf16BitsToF32(f32ToBf16Bits(x))))
      }
      // F16, written by hand with values exact in binary16 (k/1024 for |k| < 1024, and 1).
      const exact = gpt2TensorShapes(shape).map(([name, dims]) => {
        const src = w.tensors.get(name)!.data
        return { name, dims, values: Float32Array.from(src, (x) => (name.includes("ln_") ? x : Math.round(x * 1024) / 1024)) }
      })
      const dir16 = tmpDir()
      writeF16Safetensors(path.join(dir16, "model.safetensors"), exact)
      fs.writeFileSync(path.join(dir16, "config.json"), gpt2ConfigText(shape))
      const back16 = yield* loadCheckpoint(dir16)
      for (const t of exact) expect(back16.tensors.get(t.name)!.data).toEqual(t.values)
    })
  )
})

describe("Hugging Face GPT-2 checkpoints: bad inputs are typed errors naming the tensor", () => {
  const w = initGpt2Weights(shape, 0)
  const load = (dir: string) => Effect.flip(loadCheckpoint(dir))

  it.effect("missing tensor", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* writeCheckpoint(
        dir,
        shape,
        hfTensors(w).filter((t) => t.name !== "transformer.h.1.ln_2.bias")
      )
      const err = yield* load(dir)
      expect(err._tag).toBe("ModelError")
      expect(err.tensor).toBe("transformer.h.1.ln_2.bias")
      expect(err.message).toContain("missing tensor transformer.h.1.ln_2.bias")
    })
  )

  it.effect("mis-shaped tensor, and a config that disagrees with the tensors", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* writeCheckpoint(
        dir,
        shape,
        hfTensors(w).map((t) => (t.name === "transformer.h.0.attn.c_attn.weight" ? { ...t, shape: [24, 8] } : t))
      )
      const err = yield* load(dir)
      expect(err.tensor).toBe("transformer.h.0.attn.c_attn.weight")
      expect(err.message).toContain("has shape [24, 8]")
      expect(err.message).toContain("implies [8, 24]")
      const dir2 = tmpDir()
      yield* writeCheckpoint(dir2, shape, hfTensors(w), gpt2ConfigText({ ...shape, vocabSize: 12 }))
      const err2 = yield* load(dir2)
      expect(err2.tensor).toBe("transformer.wte.weight")
      expect(err2.message).toContain("vocab_size 12")
      const dir3 = tmpDir()
      yield* writeCheckpoint(dir3, shape, hfTensors(w), gpt2ConfigText({ ...shape, layers: 1 }))
      const err3 = yield* load(dir3)
      expect(err3.tensor).toMatch(/^transformer\.h\.1\./)
      expect(err3.message).toContain("n_layer = 1")
    })
  )

  it.effect("unsupported dtype names the dtype and the tensor", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* writeCheckpoint(dir, shape, hfTensors(w))
      // Rewrite ln_f.bias's dtype in the header from F32 to I32 (same size, so offsets stay valid).
      const file = path.join(dir, "model.safetensors")
      const bytes = fs.readFileSync(file)
      const n = Number(bytes.readBigUInt64LE(0))
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"))
      header["transformer.ln_f.bias"].dtype = "I32"
      const json = Buffer.from(JSON.stringify(header).padEnd(n, " "))
      expect(json.length).toBe(n)
      json.copy(bytes, 8)
      fs.writeFileSync(file, bytes)
      const err = yield* load(dir)
      expect(err.tensor).toBe("transformer.ln_f.bias")
      expect(err.message).toContain("unsupported dtype I32")
    })
  )

  it.effect("head: tied config with a different lm_head, or untied config without one", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* writeCheckpoint(dir, shape, hfTensors(w, { extra: [{ name: "lm_head.weight", shape: [11, 8], data: new Float32Array(88) }] }))
      const err = yield* load(dir)
      expect(err.tensor).toBe("lm_head.weight")
      expect(err.message).toContain("tie_word_embeddings true")
      const dir2 = tmpDir()
      yield* writeCheckpoint(dir2, shape, hfTensors(w), gpt2ConfigText({ ...shape, tiedHead: false }))
      const err2 = yield* load(dir2)
      expect(err2.tensor).toBe("lm_head.weight")
      expect(err2.message).toContain("no lm_head.weight")
    })
  )

  it.effect("config.json: missing, malformed, or asking for an unsupported architecture", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* saveCheckpoint(dir, w)
      const cfg = path.join(dir, "config.json")
      const base = JSON.parse(fs.readFileSync(cfg, "utf8"))
      const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
        [{ ...base, activation_function: "relu" }, /activation_function relu is not supported/],
        [{ ...base, n_head: 3 }, /n_embd 8 is not divisible by n_head 3/],
        [{ ...base, n_inner: 16 }, /n_inner 16/],
        [{ ...base, model_type: "llama" }, /model_type is llama/],
        [{ ...base, n_embd: "eight" }, /n_embd/]
      ]
      for (const [config, message] of cases) {
        fs.writeFileSync(cfg, JSON.stringify(config))
        const err = yield* load(dir)
        expect(err.file).toBe(cfg)
        expect(err.message).toMatch(message)
      }
      fs.writeFileSync(cfg, "{ nope")
      expect((yield* load(dir)).message).toContain("not valid JSON")
      fs.rmSync(cfg)
      const err = yield* load(dir)
      expect(err.file).toBe(cfg)
      expect(err.message).toContain("config.json missing")
    })
  )

  it.effect("missing checkpoint, or a folder without weights", () =>
    Effect.gen(function* () {
      const missing = path.join(tmpDir(), "nothing")
      expect((yield* load(missing)).file).toBe(missing)
      const empty = tmpDir()
      expect((yield* load(empty)).message).toContain("no model.safetensors")
    })
  )

  it.effect("saving weights that lack a tensor or have the wrong size names it", () =>
    Effect.gen(function* () {
      const tensors = new Map(w.tensors)
      tensors.delete("h.0.mlp.c_fc.bias")
      const dir = tmpDir()
      const err = yield* Effect.flip(saveCheckpoint(dir, { shape: w.shape, tensors }))
      expect(err.tensor).toBe("h.0.mlp.c_fc.bias")
      tensors.set("h.0.mlp.c_fc.bias", { shape: [32], data: new Float32Array(31) })
      expect((yield* Effect.flip(saveCheckpoint(dir, { shape: w.shape, tensors }))).tensor).toBe("h.0.mlp.c_fc.bias")
      expect(fs.readdirSync(dir)).toEqual([])
    })
  )
})
