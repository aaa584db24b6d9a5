/**
 * Benchmark (not a test): training tokens/s and evaluation sequences/s of the
 * WebGPU GPT-2 on three configs, matmul GFLOP/s per tile shape (the autotune
 * set, N=512, N=1024), and the fused bias+GELU epilogue against matmul
 * followed by a GELU pass (the fusion is used where it measured faster).
 *
 *   tsx packages/gpu-webgpu/bench/train.ts [--steps 10] [--precision fp32] [--skip-1024]
 */
import { Effect, Layer } from "effect"
import { parseArgs } from "node:util"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import type { Precision } from "../src/kernels/common.ts"
import { type MatmulTile, registerTile } from "../src/kernels/matmul.ts"
import { autotune, tileCandidates, tileName, timeGeluFusion, timeMatmul } from "../src/train/autotune.ts"
import { table } from "./setup.ts"
import { configName, timeTraining } from "./timing.ts"

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

const modelBench = (tile: MatmulTile, fuseGelu: boolean) =>
  Effect.gen(function* () {
    const rows: Array<Array<string | number>> = []
    for (const c of configs) {
      const r = yield* timeTraining(c, { precision, tile, fuseGelu }, steps)
      rows.push([configName(c), r.params, Math.round(r.tokensPerSecond), r.msPerStep.toFixed(1), Math.round(r.evalSequencesPerSecond)])
    }
    console.log(`GPT-2 training and evaluation (${precision}, tile ${tileName(tile)}, GELU ${fuseGelu ? "fused" : "separate"}, ${steps} steps after warm-up)`)
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
  console.log("Matmul GFLOP/s (f32; autotune: over the model-shaped tuning set; N×N×N at 512, and 1024 for the two best tiles)")
  table(["tile", "autotune set", "N=512", "N=1024"], rows)
  return ranked[0]
})

const main = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const p = adapterProvenance(gpu)
  console.log(`adapter: ${p.vendor} / ${p.architecture} / ${p.description} (features: ${p.features.join(", ")})\n`)
  const [best, gflops] = yield* matmulBench
  const large = gflops > 50
  const tiles = best.kind === "register" && best.wx === 8 ? [best] : [registerTile, best]
  const fusion: Array<Array<string>> = []
  let fuseGelu = true
  for (const t of tiles) {
    const r = yield* timeGeluFusion(gpu.device, t, large)
    fusion.push([tileName(t), r.fused.toFixed(3), r.split.toFixed(3)])
    if (t === best) fuseGelu = r.fused <= r.split
  }
  console.log(
    `Fusion: bias+GELU in the matmul epilogue vs matmul then a GELU pass (fc shape ${large ? "[16384,256]·[256,1024]" : "[4096,64]·[64,256]"}, fastest of 5)`
  )
  table(["tile", "fused ms", "split ms"], fusion)
  yield* modelBench(best, fuseGelu)
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
