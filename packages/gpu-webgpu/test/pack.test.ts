/**
 * Many models in one pack (model/pack.ts over model/model-axis.ts): each
 * member, trained with its own data, seed, learning rate, schedule and step
 * budget, ends with bit for bit the weights and losses of the same run
 * trained alone, in every precision mode; members that stop early leave
 * and members beyond the slots wait and take theirs; a member that is
 * interrupted leaves without stalling the others. Needs a WebGPU adapter:
 * without one the layer fails.
 */
import { expect, layer } from "@effect/vitest"
import type { TokenSequences } from "@memorize/core"
import { Effect, Fiber } from "effect"
import * as fc from "fast-check"
import { WebGpu } from "../src/device/webgpu.ts"
import { modelAxisCode } from "../src/model/model-axis.ts"
import { makeGpuGpt2Engine, type Precision } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { makePack } from "../src/model/pack.ts"
import type { Gpt2Shape, Gpt2Weights } from "../src/model/weights.ts"
import { trainLoop, type TrainOptions } from "../src/train/loop.ts"
import { randInts } from "./helpers.ts"
import { type MatmulTile, registerTile, sharedTile, vec4Tile } from "../src/kernels/matmul.ts"

const V = 20
const S = 6
const shape: Gpt2Shape = { vocabSize: V, nPositions: S, layers: 2, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
const data = (count: number, seed: number): TokenSequences => ({ vocabSize: V, seqLen: S, count, tokens: randInts(count * S, V, seed) })

interface RunCase {
  readonly seed: number
  readonly count: number
  readonly options: TrainOptions
}

const base: TrainOptions = {
  batchSize: 8,
  lr: 1e-2,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  weightDecay: 0.01,
  warmupSteps: 2,
  schedule: "cosine",
  maxSteps: 12,
  gradClip: 1,
  stop: {},
  logEvery: 4,
  seed: 0,
  microBatch: 4
}

/** Runs that differ in everything a pack lets differ: seed, data, lr, schedule, steps, stop rule, logging. */
const cases: ReadonlyArray<RunCase> = [
  { seed: 1, count: 24, options: base },
  { seed: 2, count: 9, options: { ...base, lr: 3e-2, schedule: "constant", maxSteps: 5, seed: 7 } },
  { seed: 3, count: 40, options: { ...base, lr: 5e-3, warmupSteps: 0, gradClip: 0, maxSteps: 9, logEvery: 3 } },
  { seed: 4, count: 16, options: { ...base, schedule: "linear", maxSteps: 16, seed: 3, stop: { targetLoss: 2.9 } } }
]

const options = (precision: Precision, tile: MatmulTile = registerTile) => ({ precision, bos: false, tile, fuseGelu: true })

const alone = (c: RunCase, precision: Precision, tile?: MatmulTile) =>
  Effect.scoped(
    Effect.gen(function* () {
      const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, c.seed), options(precision, tile))
      const out = yield* trainLoop(engine, data(c.count, c.seed), c.options, () => Effect.void)
      return { weights: yield* engine.exportWeights(), losses: out.losses, steps: out.steps }
    })
  )

const packed = (cs: ReadonlyArray<RunCase>, precision: Precision, slots: number, tile?: MatmulTile) =>
  Effect.scoped(
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      const solo = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), options(precision, tile))
      const pack = yield* makePack(gpu.device, { shape, ...options(precision, tile), slots, members: cs.length, maxMicroBatch: solo.maxMicroBatch })
      return yield* Effect.forEach(
        cs,
        (c) =>
          Effect.scoped(
            Effect.gen(function* () {
              const member = yield* pack.join(initGpt2Weights(shape, c.seed))
              const out = yield* trainLoop(member, data(c.count, c.seed), c.options, () => Effect.void)
              const weights = yield* member.exportWeights()
              yield* member.leave
              return { weights, losses: out.losses, steps: out.steps }
            })
          ),
        { concurrency: "unbounded" }
      )
    })
  )

const sameBits = (a: Gpt2Weights, b: Gpt2Weights, what: string) => {
  for (const [name, t] of a.tensors) {
    const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)
    const w = b.tensors.get(name)!.data
    const x = new Uint32Array(w.buffer, w.byteOffset, w.length)
    let diff = 0
    for (let i = 0; i < u.length; i++) if (u[i] !== x[i]) diff++
    expect(diff, `${what} ${name}: elements that differ`).toBe(0)
  }
}

layer(WebGpu.layer)("many models in one pack", (it) => {
  it.effect(
    "each member's weights and losses are its run alone, bit for bit, in every precision",
    () =>
      Effect.gen(function* () {
        for (const precision of ["fp32", "bf16", "bf16-params"] as const) {
          const solo = yield* Effect.forEach(cases, (c) => alone(c, precision))
          // 4 runs in 2 slots: two wait; the short runs leave early and the others move into their slots.
          const inPack = yield* packed(cases, precision, 2)
          cases.forEach((_, i) => {
            expect(inPack[i]!.steps, `${precision} run ${i} steps`).toBe(solo[i]!.steps)
            expect(Array.from(inPack[i]!.losses), `${precision} run ${i} losses`).toEqual(Array.from(solo[i]!.losses))
            sameBits(inPack[i]!.weights, solo[i]!.weights, `${precision} run ${i}`)
          })
        }
        // The stop rule fired for one run (so leaving mid-pack was exercised), and runs differ from each other.
        const solo = yield* Effect.forEach(cases, (c) => alone(c, "fp32"))
        expect(solo[3]!.steps).toBeLessThan(16)
        expect(solo[0]!.losses[5]).not.toBe(solo[2]!.losses[5])
      }),
    240_000
  )

  it.effect(
    "all in one pass: 4 slots for 4 runs, with split-K GEMMs (288-row micro-batches)",
    () =>
      Effect.gen(function* () {
        // 48 rows × 6 positions: the head's weight gradient (K = 288) is split along K (kernels/matmul.ts splitKPlan).
        const wide = cases.map((c) => ({ ...c, count: c.count + 48, options: { ...c.options, batchSize: 48, microBatch: 48, maxSteps: 4 } }))
        const solo = yield* Effect.forEach(wide, (c) => alone(c, "fp32"))
        const inPack = yield* packed(wide, "fp32", 4)
        wide.forEach((_, i) => sameBits(inPack[i]!.weights, solo[i]!.weights, `run ${i}`))
      }),
    120_000
  )

  it.effect(
    "with the other matmul kernels (vec4: read-only vec4 and f32 bindings of one buffer; shared memory)",
    () =>
      Effect.gen(function* () {
        for (const tile of [vec4Tile, sharedTile]) {
          const two = cases.slice(0, 2)
          const solo = yield* Effect.forEach(two, (c) => alone(c, "fp32", tile))
          const inPack = yield* packed(two, "fp32", 2, tile)
          two.forEach((_, i) => sameBits(inPack[i]!.weights, solo[i]!.weights, `${tile.kind} run ${i}`))
        }
      }),
    180_000
  )

  it.effect(
    "an interrupted member leaves: the others finish with their weights alone",
    () =>
      Effect.gen(function* () {
        const gpu = yield* WebGpu
        const solo = yield* Effect.forEach(cases.slice(0, 2), (c) => alone(c, "fp32"))
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), options("fp32"))
            const pack = yield* makePack(gpu.device, { shape, ...options("fp32"), slots: 3, members: 3, maxMicroBatch: engine.maxMicroBatch })
            const member = (c: RunCase) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const m = yield* pack.join(initGpt2Weights(shape, c.seed))
                  yield* trainLoop(m, data(c.count, c.seed), c.options, () => Effect.void)
                  const weights = yield* m.exportWeights()
                  yield* m.leave
                  return weights
                })
              )
            // A third run with a long budget, interrupted after a few of its steps.
            const doomed = yield* Effect.forkChild(member({ ...cases[0]!, options: { ...base, maxSteps: 10_000 } }))
            const fibers = yield* Effect.forEach(cases.slice(0, 2), (c) => Effect.forkChild(member(c)))
            const first = yield* Fiber.join(fibers[0]!)
            yield* Fiber.interrupt(doomed)
            const second = yield* Fiber.join(fibers[1]!)
            return [first, second]
          })
        ).pipe(Effect.timeout("100 seconds"))
        sameBits(result[0]!, solo[0]!.weights, "run 0")
        sameBits(result[1]!, solo[1]!.weights, "run 1")
      }),
    150_000
  )

  it("the model axis shifts every storage index and leaves one model's code as it was", () => {
    // Property: for any binding strides and z count, the rewritten kernel keeps the entry point's body and
    // indexes every storage array from its own base; a kernel with z > 1 per workgroup is refused.
    const kernel = `struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  OUT[gid.x + gid.z * p.n] = A[gid.x] * 2.0;
}`
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), fc.integer({ min: 1, max: 9 }), (a, out, zPer) => {
        const code = modelAxisCode(
          kernel,
          "main",
          zPer,
          new Map([
            [1, a],
            [2, out]
          ])
        )
        expect(code).toContain(`pack_A = 0u + pack_m * ${a}u;`)
        expect(code).toContain(`pack_OUT = 0u + pack_m * ${out}u;`)
        expect(code).toContain(`let pack_m = pack_wg.z / ${zPer}u;`)
        expect(code).toContain(`OUT[pack_OUT + gid.x + (gid.z % ${zPer}u) * p.n] = A[pack_A + gid.x] * 2.0;`)
      })
    )
    expect(() => modelAxisCode(kernel.replace("@workgroup_size(64)", "@workgroup_size(8, 8, 2)"), "main", 1, new Map())).toThrow(/along z/)
  })
})
