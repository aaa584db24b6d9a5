/**
 * Does the JS thread sleep while the GPU trains? (issue 12, part 3.) Trains
 * V=2048 S=64 L=1 d=32 B=64 on this adapter with waits paced (the default:
 * device/pacing.ts sleeps through most of the predicted GPU time before
 * asking Dawn for a promise) and unpaced (Dawn polls with setImmediate from
 * the first moment), alternating, and prints per step: wall time, the JS
 * main thread's CPU time (from /proc/self/task/<pid>/stat) and the whole
 * process's CPU time (on lavapipe that includes the "GPU"'s own threads).
 *
 *   tsx packages/gpu-webgpu/bench/wait.ts [--steps 5] [--reps 2]
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { parseArgs } from "node:util"
import { setPacing } from "../src/device/pacing.ts"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTokens, benchTrainOptions } from "./setup.ts"

const { values: args } = parseArgs({ options: { steps: { type: "string", default: "5" }, reps: { type: "string", default: "2" } } })
const steps = Number(args.steps)
const reps = Number(args.reps)
const c = { V: 2048, S: 64, L: 1, d: 32, B: 64 }
const shape = benchShape(c)

/** CPU milliseconds (user + system) of the main thread, whose task id is the pid. */
const mainThreadCpuMs = (): number => {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}
const processCpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const main = Effect.gen(function* () {
  const p = adapterProvenance(yield* WebGpu)
  console.log(
    `adapter: ${p.vendor} / ${p.architecture} / ${p.description}; load average ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`
  )
  console.log(`V=${c.V} S=${c.S} L=${c.L} d=${c.d} B=${c.B}, ${steps} steps per measurement, losses read once per run; best of ${reps}\n`)
  const best = new Map<string, { wall: number; js: number; all: number }>()
  for (let r = 0; r < reps; r++) {
    for (const paced of [false, true]) {
      setPacing(paced)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, 0), { precision: "fp32" })
          const count = c.B * 2
          const tokens = benchTokens(count * c.S, c.V, 1)
          const opts = benchTrainOptions(c.B, 1)
          // One warm-up step (pipelines, first pace measurement), then the measured run.
          yield* trainLoop(engine, { tokens, count, seqLen: c.S }, { ...opts, maxSteps: 1 }, () => Effect.void)
          const js0 = mainThreadCpuMs()
          const all0 = processCpuMs()
          const out = yield* trainLoop(engine, { tokens, count, seqLen: c.S }, { ...opts, maxSteps: steps, logEvery: steps }, () => Effect.void)
          const m = { wall: out.wallMs / steps, js: (mainThreadCpuMs() - js0) / steps, all: (processCpuMs() - all0) / steps }
          const key = paced ? "paced (sleep, then wait)" : "unpaced (Dawn polls)"
          const prev = best.get(key)
          if (prev === undefined || m.wall < prev.wall) best.set(key, m)
        })
      )
    }
  }
  setPacing(true)
  console.log("wait                        wall ms/step  JS-thread CPU ms/step  process CPU ms/step")
  for (const [k, m] of best) console.log(`${k.padEnd(28)}${m.wall.toFixed(0).padStart(12)}${m.js.toFixed(0).padStart(23)}${m.all.toFixed(0).padStart(21)}`)
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
