/**
 * Workgroups per dispatch of one training step (issue 12): every dispatch of
 * the forward, backward and optimizer lists at V=2048 S=64 L=1 d=32 B=64,
 * for the matmul tile a GPU gets by default (shared 64×64) and a summary
 * for every autotune candidate tile. A large GPU wants every dispatch to
 * have at least as many workgroups as it has compute units (an H200: 132),
 * except the final reductions (few outputs by nature). The plan is then
 * trained for --steps steps (default tile of this adapter) to show it runs.
 *
 *   tsx packages/gpu-webgpu/bench/workgroups.ts [--steps 2] [--tile shared|register|vec4]
 */
import { Effect, Layer } from "effect"
import { parseArgs } from "node:util"
import type { Dispatch } from "../src/device/gpu.ts"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import { type MatmulTile, registerTile, sharedTile, vec4Tile } from "../src/kernels/matmul.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { tileCandidates, tileName } from "../src/train/autotune.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTokens, benchTrainOptions, table } from "./setup.ts"
import { stepDispatches } from "./step-dispatches.ts"

const { values: args } = parseArgs({ options: { steps: { type: "string", default: "2" }, tile: { type: "string", default: "shared" } } })
const steps = Number(args.steps)
const tiles: Record<string, MatmulTile> = { shared: sharedTile, register: registerTile, vec4: vec4Tile }
const mainTile = tiles[args.tile]
if (mainTile === undefined) throw new Error(`--tile: one of ${Object.keys(tiles).join(", ")}`)

/** An H200's streaming multiprocessors. */
const COMPUTE_UNITS = 132
const c = { V: 2048, S: 64, L: 1, d: 32, B: 64 }
const shape = benchShape(c)

/** Second passes of two-pass reductions: their output count is what it is (a bias has d entries). */
const isFinal = (label: string) => /reduce_slices|final_sum/.test(label)
const count = (d: Dispatch) => d.workgroups[0] * d.workgroups[1] * d.workgroups[2]

const main = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const p = adapterProvenance(gpu)
  console.log(`adapter: ${p.vendor} / ${p.architecture} / ${p.description}`)
  console.log(
    `config V=${c.V} S=${c.S} L=${c.L} d=${c.d} B=${c.B} (B·T = ${c.B * c.S} rows); target: ≥ ${COMPUTE_UNITS} workgroups per dispatch except final reductions\n`
  )

  const { list } = yield* Effect.scoped(stepDispatches(c, mainTile))
  console.log(`Workgroups per dispatch of one training step, matmul tile ${tileName(mainTile)} (${list.length} dispatches)`)
  table(
    ["pass", "dispatch", "grid", "workgroups", ""],
    list.map(([pass, d]) => {
      const n = count(d)
      return [pass, d.label, d.workgroups.join("×"), n, n >= COMPUTE_UNITS ? "" : isFinal(d.label) ? "final reduction" : `< ${COMPUTE_UNITS}`]
    }),
    2
  )

  const summary: Array<Array<string | number>> = []
  for (const t of tileCandidates) {
    const { list: l } = yield* Effect.scoped(stepDispatches(c, t))
    const low = l.filter(([, d]) => count(d) < COMPUTE_UNITS && !isFinal(d.label))
    summary.push([tileName(t), l.length, low.length, low.map(([, d]) => `${d.label} ${count(d)}`).join(", ") || "-"])
  }
  console.log(`Per autotune candidate tile: dispatches below ${COMPUTE_UNITS} workgroups (final reductions excepted)`)
  table(["tile", "dispatches", "below", "which (workgroups)"], summary, 2)

  if (steps > 0) {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), { precision: "fp32" })
        const cnt = c.B * 2
        const tokens = benchTokens(cnt * c.S, c.V, 1)
        const opts = { ...benchTrainOptions(c.B, 1), maxSteps: steps }
        const out = yield* trainLoop(engine, { tokens, count: cnt, seqLen: c.S }, opts, () => Effect.void)
        console.log(
          `trained ${steps} steps on this adapter (tile ${tileName(engine.tile)}, loss read back every step): ${(out.wallMs / steps).toFixed(2)} ms/step`
        )
      })
    )
  }
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
