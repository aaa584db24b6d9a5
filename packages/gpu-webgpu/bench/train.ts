/**
 * Benchmark (not a test): training tokens/s and evaluation sequences/s of the
 * WebGPU GPT-2 on three configs, matmul GFLOP/s per tile shape at N=512/1024,
 * and the fused bias+GELU epilogue against matmul followed by a GELU pass.
 *
 *   tsx packages/gpu-webgpu/bench/train.ts [--steps 10] [--precision fp32] [--skip-1024]
 */
import { Effect, Layer } from "effect"
import { parseArgs } from "node:util"
import { finish, run, storageBuffer } from "../src/device/gpu.ts"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import type { Precision } from "../src/kernels/common.ts"
import { geluForward } from "../src/kernels/gelu.ts"
import { matmul, type MatmulTile } from "../src/kernels/matmul.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { autotune, tileCandidates, tileName, timeMatmul } from "../src/train/autotune.ts"
import { trainLoop } from "../src/train/loop.ts"

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "10" },
    precision: { type: "string", default: "fp32" },
    "skip-1024": { type: "boolean", default: false }
  }
})
const steps = Number(args.steps)
const precision = args.precision as Precision

const configs = [
  { V: 2048, S: 64, L: 1, d: 32, batch: 64 },
  { V: 2048, S: 64, L: 2, d: 64, batch: 64 },
  { V: 256, S: 32, L: 1, d: 16, batch: 128 }
]

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>) => {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  for (const r of cells) console.log(r.map((c, i) => c.padStart(w[i])).join("  "))
  console.log()
}

const randomTokens = (n: number, V: number, seed: number) => {
  let a = seed >>> 0
  return Uint32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0
    return a % V
  })
}

const modelBench = (tile: MatmulTile) =>
  Effect.gen(function* () {
    const rows: Array<Array<string | number>> = []
    for (const c of configs) {
      yield* Effect.scoped(
        Effect.gen(function* () {
          const shape = { vocabSize: c.V, seqLen: c.S, layers: c.L, dModel: c.d, heads: Math.max(1, c.d / 16), layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
          const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), { precision, tile })
          const count = c.batch * 4
          const data = { tokens: randomTokens(count * c.S, c.V, 1), count, seqLen: c.S }
          const opts = { batchSize: c.batch, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, warmupSteps: 0, schedule: "constant" as const, gradClip: 1, stop: {}, logEvery: steps, seed: 0 }
          yield* trainLoop(engine, data, { ...opts, maxSteps: 2 }, () => Effect.void) // compile + warm up
          const out = yield* trainLoop(engine, data, { ...opts, maxSteps: steps }, () => Effect.void)
          const seqs = { vocabSize: c.V, seqLen: c.S, count, tokens: data.tokens }
          yield* engine.codeLengths(seqs) // warm-up: builds the evaluation plan
          const t0 = performance.now()
          yield* engine.codeLengths(seqs)
          const evalSecs = (performance.now() - t0) / 1000
          rows.push([`V=${c.V} S=${c.S} L=${c.L} d=${c.d} B=${c.batch}`, engine.paramCount, Math.round(out.tokensPerSecond), (out.wallMs / steps).toFixed(1), Math.round(count / evalSecs)])
        })
      )
    }
    console.log(`GPT-2 training and evaluation (${precision}, tile ${tileName(tile)}, ${steps} steps after warm-up)`)
    table(["config", "params", "train tok/s", "ms/step", "eval seq/s"], rows)
  })

const matmulBench = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const ranked = yield* autotune(gpu)
  const rows: Array<Array<string | number>> = []
  for (const t of tileCandidates) {
    const g512 = yield* timeMatmul(gpu.device, t, 512, 2)
    const top = ranked.slice(0, 2).some(([r]) => r === t)
    const g1024 = args["skip-1024"] || !top ? "-" : (yield* timeMatmul(gpu.device, t, 1024, 1)).toFixed(2)
    rows.push([tileName(t), ranked.find(([r]) => r === t)![1].toFixed(2), g512.toFixed(2), g1024])
  }
  console.log("Matmul GFLOP/s (N×N×N, f32; N=1024 only for the two best tiles)")
  table(["tile", "N=256 (autotune)", "N=512", "N=1024"], rows)
  return ranked[0][0]
})

/** Fused bias+GELU epilogue vs the same matmul + a separate GELU dispatch ([4096, 256] = [4096, 64]·[64, 256]). */
const fusionBench = (tile: MatmulTile) =>
  Effect.gen(function* () {
    const { device } = yield* WebGpu
    const [M, N, K] = [4096, 256, 64]
    const mk = (n: number) => ({ buffer: storageBuffer(device, "x", n), offset: 0, size: n * 4 })
    const a = mk(M * K), b = mk(K * N), bias = mk(N), pre = mk(M * N), out = mk(M * N)
    const fused = [yield* matmul(device, { M, N, K, transA: false, transB: false, a, b, bias, c: out, gelu: { pre }, rounding: "none", tile })]
    const split = [
      yield* matmul(device, { M, N, K, transA: false, transB: false, a, b, bias, c: pre, rounding: "none", tile }),
      yield* geluForward(device, { n: M * N, x: pre, y: out })
    ]
    const time = (ds: typeof fused) =>
      Effect.gen(function* () {
        run(device, ds)
        yield* finish(device)
        const t0 = performance.now()
        for (let i = 0; i < 5; i++) run(device, ds)
        yield* finish(device)
        return (performance.now() - t0) / 5
      })
    const tf = yield* time(fused)
    const ts = yield* time(split)
    console.log("Fusion: bias+GELU in the matmul epilogue ([4096,64]·[64,256])")
    table(["variant", "ms"], [["fused epilogue", tf.toFixed(2)], ["matmul + GELU pass", ts.toFixed(2)]])
  })

const main = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const p = adapterProvenance(gpu)
  console.log(`adapter: ${p.vendor} / ${p.architecture} / ${p.description} (features: ${p.features.join(", ")})\n`)
  const best = yield* matmulBench
  yield* fusionBench(best)
  yield* modelBench(best)
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
