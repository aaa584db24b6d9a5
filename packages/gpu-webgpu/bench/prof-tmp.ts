import { Effect } from "effect"
import { makeCpuGpt2Engine } from "/work/main/packages/gpu-webgpu/src/cpu/cpu-model.ts"
import { opcodes } from "/work/main/packages/gpu-webgpu/src/cpu/program.ts"
import { initGpt2Weights } from "/work/main/packages/gpu-webgpu/src/model/init.ts"
import { trainLoop } from "/work/main/packages/gpu-webgpu/src/train/loop.ts"
const [V, S, L, d, B] = (process.argv[2] ?? "2048,64,1,32,64").split(",").map(Number)
const main = Effect.gen(function* () {
  const shape = { vocabSize: V, seqLen: S, layers: L, dModel: d, heads: Math.max(1, d / 16), layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
  const e = yield* makeCpuGpt2Engine(initGpt2Weights(shape, 0), { precision: (process.argv[3] ?? "fp32") as any })
  const data = { tokens: Uint32Array.from({ length: B * 4 * S }, (_, i) => (i * 7919) % V), count: B * 4, seqLen: S }
  const opts = { batchSize: B, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, warmupSteps: 0, schedule: "constant" as const, gradClip: 1, stop: {}, logEvery: 20, seed: 0 }
  const out = yield* trainLoop(e, data, { ...opts, maxSteps: 20 }, () => Effect.void)
  console.log("ms/step", out.wallMs / 20)
  const prof = e.native.info().profileMs as any as number[]
  const names = Object.fromEntries(Object.entries(opcodes).map(([k, v]) => [v, k]))
  const tot = prof.reduce((a, b) => a + b, 0)
  prof.map((ms, i) => [names[i], ms / 20] as const).filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]).forEach(([n, ms]) => console.log(String(n).padEnd(26), ms.toFixed(2), "ms/step"))
  console.log("total", (tot / 20).toFixed(2))
})
Effect.runPromise(Effect.scoped(main)).then(() => process.exit(0), (e) => (console.error(e), process.exit(1)))
