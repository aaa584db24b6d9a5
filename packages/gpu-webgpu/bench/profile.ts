/** Per-dispatch timings of one training step (forward, loss, backward): where the time goes. tsx packages/gpu-webgpu/bench/profile.ts */
import { Effect, Layer } from "effect"
import { finish, run } from "../src/device/gpu.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { fillBatch } from "../src/model/batch.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { registerTile, vec4Tile } from "../src/kernels/matmul.ts"
import { benchShape } from "./setup.ts"

const [V, S, L, d, B] = (process.argv[2] ?? "2048,64,1,32,64").split(",").map(Number)
const main = Effect.gen(function* () {
  const shape = benchShape({ V, S, L, d })
  const tile = process.argv[3] === "vec4" ? vec4Tile : registerTile
  const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), { precision: "fp32", tile })
  const plan = yield* engine.plan(B, S)
  const tokens = Uint32Array.from({ length: B * S }, (_, i) => (i * 7919) % V)
  engine.upload(
    plan,
    fillBatch(
      tokens,
      S,
      Array.from({ length: B }, (_, i) => i),
      B,
      undefined
    )
  )
  const all = [...plan.forward, ...plan.backward]
  run(engine.device, all)
  yield* finish(engine.device)
  const rows: Array<[string, number]> = []
  for (const dsp of all) {
    const t0 = performance.now()
    for (let r = 0; r < 2; r++) run(engine.device, [dsp])
    yield* finish(engine.device)
    rows.push([dsp.label, (performance.now() - t0) / 2])
  }
  const total = rows.reduce((a, [, t]) => a + t, 0)
  for (const [l, t] of rows.sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(l.padEnd(28), t.toFixed(2).padStart(8), "ms", ((100 * t) / total).toFixed(0).padStart(3), "%")
  console.log("total", total.toFixed(1), "ms")
})
Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => (console.error(e), process.exit(1))
)
