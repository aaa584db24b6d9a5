/**
 * The gpt2 model plugin and the two trainer plugins (webgpu, cpu) as core
 * uses them, the same suite for both: config decoding, parameter counts, a
 * full train → evaluate → save run, determinism, precision modes, gradient
 * accumulation, stopping rules and divergence.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import type { Dataset, ProgressEvent, TrainedModel } from "@memorize/core"
import { Effect, Exit, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { CpuTrainerConfig, cpuTrainerPlugin } from "../src/cpu/plugin.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import { plugins } from "../src/index.ts"
import { Gpt2ModelConfig, gpt2ModelPlugin } from "../src/model/plugin.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { roundBf16 } from "./oracle/ops.ts"
import { trainLoop } from "../src/train/loop.ts"
import { webgpuTrainerPlugin, WebGpuTrainerConfig } from "../src/train/plugin.ts"
import { expectClose, randInts } from "./helpers.ts"

const decodeModel = Schema.decodeUnknownSync(Gpt2ModelConfig)

describe("gpt2 model plugin", () => {
  it("counts parameters as the paper does (three checks from the paper notes)", () => {
    const count = (layers: number, dModel: number) =>
      gpt2ModelPlugin.make(decodeModel({ layers, dModel, heads: 4 }))({ vocabSize: 2048, seqLen: 64 }).paramCount
    expect(count(1, 32)).toBe(80_352)
    expect(count(2, 128)).toBe(667_136)
    expect(count(8, 256)).toBe(6_859_264)
  })
  it("adds one vocabulary row and one position with bos", () => {
    const plain = gpt2ModelPlugin.make(decodeModel({ layers: 1, dModel: 32, heads: 2 }))({ vocabSize: 2048, seqLen: 64 })
    const bos = gpt2ModelPlugin.make(decodeModel({ layers: 1, dModel: 32, heads: 2, bos: true }))({ vocabSize: 2048, seqLen: 64 })
    expect(bos.paramCount - plain.paramCount).toBe(2 * 32)
    expect(bos.vocabSize).toBe(2048)
  })
  it("rejects dModel not divisible by heads, naming the field", () => {
    expect(() => decodeModel({ layers: 1, dModel: 30, heads: 4 })).toThrow(/divisible/)
  })
  it.effect("validate refuses a model too large for this machine's memory, naming its size (and passes a small one)", () =>
    Effect.gen(function* () {
      const run = { dataset: { vocabSize: 2048, seqLen: 64 } }
      const big = yield* gpt2ModelPlugin.check!(decodeModel({ layers: 4, dModel: 1_000_000, heads: 1 }), { specDir: ".", run })
      expect(big).toHaveLength(1)
      expect(big[0].path).toEqual(["dModel"])
      expect(big[0].message).toMatch(/parameters: [\d.]+ GiB .* more than this machine's/)
      expect(yield* gpt2ModelPlugin.check!(decodeModel({ layers: 1, dModel: 32, heads: 2 }), { specDir: ".", run })).toEqual([])
    })
  )
  it("exports both plugins by kind", () => {
    expect(plugins.map((p) => `${p.kind}/${p.name}`)).toEqual(expect.arrayContaining(["model/gpt2", "trainer/webgpu", "trainer/cpu"]))
  })
})

const V = 16
const S = 12
const seqs = (count: number, seed: number) => ({ vocabSize: V, seqLen: S, count, tokens: randInts(count * S, V, seed) })
const dataset: Dataset = { kind: "test", vocabSize: V, seqLen: S, train: seqs(24, 1), holdout: seqs(8, 2), fingerprint: "test", stats: {} }
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-gpu-cache-"))

/** A trainer plugin under test: how to make it from a plain config object. */
interface TrainerCase {
  readonly name: string
  readonly make: (config: Record<string, unknown>) => ReturnType<typeof cpuTrainerPlugin.make>
  readonly provenance: (p: Record<string, unknown>) => void
}
const trainers: ReadonlyArray<TrainerCase> = [
  {
    name: "webgpu",
    make: (c) => webgpuTrainerPlugin.make(Schema.decodeUnknownSync(WebGpuTrainerConfig)({ autotune: false, ...c })),
    provenance: (p) => {
      const prov = p as { adapter: { vendor: string }; matmulTile: { kind: string } }
      expect(typeof prov.adapter.vendor).toBe("string")
      expect(["register", "vec4", "shared"]).toContain(prov.matmulTile.kind)
    }
  },
  {
    name: "cpu",
    make: (c) => cpuTrainerPlugin.make(Schema.decodeUnknownSync(CpuTrainerConfig)(c)),
    provenance: (p) => {
      expect(p.backend).toBe("cpu")
      expect(String(p.blas)).toMatch(/OpenBLAS/i)
    }
  }
]

for (const trainer of trainers) {
  const trainWith = (model: Record<string, unknown>, config: Record<string, unknown>, events: Array<ProgressEvent> = []) =>
    Effect.scoped(
      Effect.gen(function* () {
        const description = gpt2ModelPlugin.make(decodeModel(model))(dataset)
        const m = yield* trainer.make(config)({
          model: description,
          dataset,
          context: { seed: 7, specDir: ".", runDir: ".", cacheDir },
          onProgress: (e) => Effect.sync(() => void events.push(e))
        })
        return { model: m, bits: yield* m.codeLengths(dataset.train), events }
      })
    )

  const small = { layers: 1, dModel: 16, heads: 2 }

  layer(WebGpu.layer)(`${trainer.name} trainer plugin`, (it) => {
    it.effect("trains, reports progress, evaluates, generates and saves", () =>
      Effect.gen(function* () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-gpu-save-"))
        const out = yield* Effect.scoped(
          Effect.gen(function* () {
            const events: Array<ProgressEvent> = []
            const description = gpt2ModelPlugin.make(decodeModel(small))(dataset)
            const m: TrainedModel = yield* trainer.make({ maxSteps: 30, lr: 1e-2, logEvery: 10 })({
              model: description,
              dataset,
              context: { seed: 7, specDir: ".", runDir: ".", cacheDir },
              onProgress: (e) => Effect.sync(() => void events.push(e))
            })
            const bits = yield* m.codeLengths(dataset.train)
            const lp = yield* m.tokenLogProbs(dataset.holdout)
            const prefixes = { vocabSize: V, seqLen: 4, count: 3, tokens: dataset.train.tokens.slice(0, 0) }
            const pref = new Uint32Array(12)
            for (let b = 0; b < 3; b++) pref.set(dataset.train.tokens.subarray(b * S, b * S + 4), b * 4)
            const gen = yield* m.generate({ ...prefixes, tokens: pref }, 8)
            // The stepper arithmetic coding uses (each backend's incremental pass): nextTokenLogits' floats.
            const three = { vocabSize: V, seqLen: S, count: 3, tokens: dataset.train.tokens.slice(0, 3 * S) }
            const stepper = yield* m.nextTokenStepper!({ count: 3, seqLen: S, vocabSize: V })
            yield* stepper.next(0, new Uint32Array(3))
            const stepped = (yield* stepper.next(
              1,
              Uint32Array.from([0, 1, 2], (b) => three.tokens[b * S])
            )).slice()
            const full = yield* m.nextTokenLogits!(three, 1)
            yield* m.save(dir)
            return { m, events, bits, lp, gen, stepped, full }
          })
        )
        expect(out.m.paramCount).toBe(V * 16 + S * 16 + 12 * 16 * 16 + 13 * 16 + 2 * 16)
        expect(out.m.train?.steps).toBe(30)
        expect(out.events.map((e) => e.step)).toEqual([10, 20, 30])
        expect(out.events.every((e) => Number.isFinite(e.loss) && e.tokensPerSecond > 0)).toBe(true)
        expect(out.events[2].loss).toBeLessThan(out.events[0].loss)
        expect(out.bits.length).toBe(24)
        // Code length = first token at log2 V + the rest: above log2 V, and finite.
        expect(Math.min(...out.bits)).toBeGreaterThan(Math.log2(V))
        expect(out.lp.length).toBe(8 * S)
        expect(out.lp[0]).toBeCloseTo(-Math.log2(V), 12)
        expect(out.gen.length).toBe(24)
        expect(Math.max(...out.gen)).toBeLessThan(V)
        expectClose(out.stepped, out.full, 1e-5, 1e-5, "stepper vs nextTokenLogits")
        expect(fs.existsSync(path.join(dir, "model.safetensors"))).toBe(true)
        trainer.provenance(out.m.provenance as Record<string, unknown>)
        expect((out.m.provenance as { microBatch: number }).microBatch).toBe(24)
      })
    )

    it.effect("same spec, same adapter → the same losses; another seed → different", () =>
      Effect.gen(function* () {
        const cfg = { maxSteps: 12, lr: 1e-2, logEvery: 4 }
        const a = yield* trainWith(small, cfg)
        const b = yield* trainWith(small, cfg)
        const c = yield* trainWith(small, { ...cfg, seed: 99 })
        expect(b.events.map((e) => e.loss)).toEqual(a.events.map((e) => e.loss))
        expect(Array.from(b.bits)).toEqual(Array.from(a.bits))
        expect(c.events.map((e) => e.loss)).not.toEqual(a.events.map((e) => e.loss))
      })
    )

    it.effect("precision modes change the arithmetic", () =>
      Effect.gen(function* () {
        const cfg = { maxSteps: 12, lr: 1e-2, logEvery: 12 }
        const results = new Map<string, number>()
        for (const precision of ["fp32", "bf16", "bf16-params", "fp16"]) {
          const r = yield* trainWith(small, { ...cfg, precision })
          results.set(precision, r.events.at(-1)!.loss)
          expect(r.model.precision).toBe(precision)
        }
        const fp32 = results.get("fp32")!
        for (const p of ["bf16", "bf16-params", "fp16"]) {
          // Same init, same data: only the rounding differs; losses differ but stay close.
          expect(results.get(p), p).not.toBe(fp32)
          expect(Math.abs(results.get(p)! - fp32), p).toBeLessThan(0.2)
        }
        expect(results.get("bf16")).not.toBe(results.get("bf16-params"))
      })
    )

    it.effect("gradient accumulation over micro-batches matches the whole batch", () =>
      Effect.gen(function* () {
        const cfg = { maxSteps: 8, lr: 1e-2, logEvery: 1, batchSize: 8 }
        const whole = yield* trainWith(small, cfg)
        const split = yield* trainWith(small, { ...cfg, microBatch: 3 }) // 3 + 3 + 2 sequences per step
        const a = whole.events.map((e) => e.loss)
        const b = split.events.map((e) => e.loss)
        expect(a.length).toBe(8)
        // Only the f32 summation order differs.
        a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-4))
        expect(a[7]).toBeLessThan(a[0])
      })
    )

    it.effect("stops on plateau and on target loss", () =>
      Effect.gen(function* () {
        const plateau = yield* trainWith(small, { maxSteps: 200, lr: 1e-9, logEvery: 5, stop: { plateau: { window: 5, minDelta: 1e-3 } } })
        expect(plateau.model.train?.stopReason).toBe("plateau")
        expect(plateau.model.train?.steps).toBe(10)
        const target = yield* trainWith(small, { maxSteps: 200, lr: 1e-2, logEvery: 5, stop: { targetLoss: 2.5 } })
        expect(target.model.train?.stopReason).toBe("targetLoss")
        expect(target.model.train!.finalLoss).toBeLessThanOrEqual(2.5)
      })
    )

    it.effect("divergence is a TrainError naming the step", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(trainWith(small, { maxSteps: 50, lr: 1e30, gradClip: 0, logEvery: 5 }))
        expect(Exit.isFailure(exit)).toBe(true)
        const err = Exit.isFailure(exit) ? JSON.stringify(exit.cause) : ""
        expect(err).toMatch(/TrainError/)
        expect(err).toMatch(/diverged/)
      })
    )
  })
}

describe("bfloat16 rounding oracle", () => {
  it("rounds to nearest, ties to even", () => {
    expect(roundBf16(1 + 2 ** -9)).toBe(1)
    expect(roundBf16(1 + 3 * 2 ** -9)).toBe(1 + 2 ** -7)
  })
})

layer(WebGpu.layer)("bf16-params (both backends)", (it) => {
  it.effect("parameters stay bfloat16 values through training; fp32 parameters do not", () =>
    Effect.gen(function* () {
      const shape = { vocabSize: V, nPositions: S, layers: 1, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true } as const
      const opts = {
        batchSize: 8,
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weightDecay: 0.01,
        warmupSteps: 0,
        schedule: "constant" as const,
        maxSteps: 5,
        gradClip: 1,
        stop: {},
        logEvery: 5,
        seed: 0
      }
      const nonBf16 = (precision: "bf16-params" | "fp32", backend: "cpu" | "webgpu") =>
        Effect.scoped(
          Effect.gen(function* () {
            const weights = initGpt2Weights(shape, 3)
            const engine = backend === "cpu" ? yield* makeCpuGpt2Engine(weights, { precision }) : yield* makeGpuGpt2Engine(weights, { precision })
            yield* trainLoop(engine, dataset.train, opts, () => Effect.void)
            const w = yield* engine.exportWeights()
            let off = 0
            for (const t of w.tensors.values()) for (const x of t.data) if (roundBf16(x) !== x) off++
            return off
          })
        )
      for (const backend of ["webgpu", "cpu"] as const) {
        expect(yield* nonBf16("bf16-params", backend), backend).toBe(0)
        expect(yield* nonBf16("fp32", backend), backend).toBeGreaterThan(1000)
      }
    })
  )
})
