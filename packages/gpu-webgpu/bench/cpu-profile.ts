/**
 * Where a CPU training step's time goes: trains 20 steps of one config with
 * the addon's per-kernel timers on (they run only when MEMORIZE_CPU_PROFILE
 * is set when the addon loads) and prints milliseconds per step per kernel.
 *
 *   MEMORIZE_CPU_PROFILE=1 tsx packages/gpu-webgpu/bench/cpu-profile.ts [V,S,L,d,B] [precision]
 */
import { Effect } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { opcodes } from "../src/cpu/program.ts"
import type { Precision } from "../src/kernels/common.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTrainOptions } from "./setup.ts"
const [V, S, L, d, B] = (process.argv[2] ?? "2048,64,1,32,64").split(",").map(Number)
const main = Effect.gen(function* () {
  const shape = benchShape({ V, S, L, d })
  const e = yield* makeCpuGpt2Engine(initGpt2Weights(shape, 0), { precision: (process.argv[3] ?? "fp32") as Precision })
  const data = { tokens: Uint32Array.from({ length: B * 4 * S }, (_, i) => (i * 7919) % V), count: B * 4, seqLen: S }
  const opts = benchTrainOptions(B, 20)
  const out = yield* trainLoop(e, data, { ...opts, maxSteps: 20 }, () => Effect.void)
  console.log("ms/step", out.wallMs / 20)
  const prof = e.native.info().profileMs
  const names: Record<number, string> = Object.fromEntries(Object.entries(opcodes).map(([k, v]) => [v, k]))
  const tot = prof.reduce((a, b) => a + b, 0)
  prof
    .map((ms, i) => [names[i], ms / 20] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .forEach(([n, ms]) => console.log(String(n).padEnd(26), ms.toFixed(2), "ms/step"))
  console.log("total", (tot / 20).toFixed(2))
})
Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (e) => (console.error(e), process.exit(1))
)
