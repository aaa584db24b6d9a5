/**
 * Benchmark (not a test): K models of one shape trained one after another
 * against the same K trained as one pack (model/pack.ts), same seeds, data
 * and steps, on the process's WebGPU adapter. Prints aggregate training
 * tokens/s of each, their ratio, and whether every packed model ended with
 * the bits of its run alone. Best of `reps` repetitions of each (the
 * machines are shared).
 *
 *   tsx packages/gpu-webgpu/bench/pack.ts [--models 8] [--steps 10] [--reps 2] [--log-every 2] [--config 2048,64,1,32,64] [--precision fp32]
 */
import { Effect, Layer } from "effect"
import * as os from "node:os"
import { parseArgs } from "node:util"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import type { Precision } from "../src/kernels/common.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { makePack } from "../src/model/pack.ts"
import type { Gpt2Weights } from "../src/model/weights.ts"
import { pickKernels, tileName } from "../src/train/autotune.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTokens, benchTrainOptions } from "./setup.ts"
import { parseConfig } from "./timing.ts"

const { values: args } = parseArgs({
  options: {
    models: { type: "string", default: "8" },
    steps: { type: "string", default: "10" },
    reps: { type: "string", default: "2" },
    "log-every": { type: "string", default: "2" },
    config: { type: "string", default: "2048,64,1,32,64" },
    precision: { type: "string", default: "fp32" }
  }
})
const K = Number(args.models)
const steps = Number(args.steps)
const reps = Number(args.reps)
const { V, S, L, d, batch } = parseConfig("--config", args.config)
const precision = args.precision as Precision
const shape = benchShape({ V, S, L, d })
const count = batch * 4

const data = Array.from({ length: K }, (_, k) => ({ tokens: benchTokens(count * S, V, k + 1), count, seqLen: S }))
// Losses read back every few steps, as in training (each read is a wait the pacing of device/pacing.ts learns from).
const options = (k: number, maxSteps: number) => ({ ...benchTrainOptions(batch, Number(args["log-every"])), seed: k, maxSteps })

const bitsEqual = (a: Gpt2Weights, b: Gpt2Weights) =>
  [...a.tensors].every(([n, t]) => {
    const u = b.tensors.get(n)!.data
    return t.data.every((x, i) => Object.is(x, u[i]))
  })

const main = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const p = adapterProvenance(gpu)
  const { tile, fuseGelu } = yield* pickKernels(gpu, ".cache", true)
  const kernels = { precision, bos: false, tile, fuseGelu }
  console.log(
    `adapter: ${p.vendor} / ${p.architecture} / ${p.description}; tile ${tileName(tile)}; load ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`
  )
  console.log(`V=${V} S=${S} L=${L} d=${d} B=${batch} ${precision}: ${K} models × ${steps} steps, best of ${reps}\n`)

  const sequential = (maxSteps: number) =>
    Effect.gen(function* () {
      const out: Array<Gpt2Weights> = []
      const t0 = performance.now()
      for (let k = 0; k < K; k++) {
        out.push(
          yield* Effect.scoped(
            Effect.gen(function* () {
              const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, k), kernels)
              yield* trainLoop(engine, data[k]!, options(k, maxSteps), () => Effect.void)
              return yield* engine.exportWeights()
            })
          )
        )
      }
      return { seconds: (performance.now() - t0) / 1000, weights: out }
    })

  const packed = (maxSteps: number) =>
    Effect.scoped(
      Effect.gen(function* () {
        const solo = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), kernels)
        const pack = yield* makePack(gpu.device, { shape, ...kernels, slots: K, members: K, maxMicroBatch: solo.maxMicroBatch })
        const t0 = performance.now()
        const weights = yield* Effect.forEach(
          data,
          (dk, k) =>
            Effect.scoped(
              Effect.gen(function* () {
                const member = yield* pack.join(initGpt2Weights(shape, k))
                yield* trainLoop(member, dk, options(k, maxSteps), () => Effect.void)
                const w = yield* member.exportWeights()
                yield* member.leave
                return w
              })
            ),
          { concurrency: "unbounded" }
        )
        return { seconds: (performance.now() - t0) / 1000, weights }
      })
    )

  // Warm-up: pipelines compiled, plans built (each timed run below builds its own buffers again, as a run does).
  yield* sequential(1)
  yield* packed(1)
  let seq = Infinity
  let pk = Infinity
  let same = true
  for (let r = 0; r < reps; r++) {
    const a = yield* sequential(steps)
    const b = yield* packed(steps)
    seq = Math.min(seq, a.seconds)
    pk = Math.min(pk, b.seconds)
    same &&= a.weights.every((w, k) => bitsEqual(w, b.weights[k]!))
  }
  const tokensAll = K * steps * batch * S
  console.log("mode        wall s   aggregate tok/s   per model tok/s")
  console.log(
    `sequential  ${seq.toFixed(2).padStart(6)}   ${Math.round(tokensAll / seq)
      .toString()
      .padStart(15)}   ${Math.round(tokensAll / seq / K)
      .toString()
      .padStart(15)}`
  )
  console.log(
    `pack of ${K}   ${pk.toFixed(2).padStart(6)}   ${Math.round(tokensAll / pk)
      .toString()
      .padStart(15)}   ${Math.round(tokensAll / pk / K)
      .toString()
      .padStart(15)}`
  )
  console.log(`\npack / sequential: ${(seq / pk).toFixed(2)}× aggregate tokens/s; every packed model bit for bit its run alone: ${same}`)
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
