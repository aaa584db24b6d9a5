/**
 * Benchmark (not a test): where one training step's time goes on this
 * adapter. Every dispatch of the step (forward, backward with the loss,
 * gradient norm, AdamW; bench/step-dispatches.ts) is timed on the GPU with
 * timestamp queries, each in a compute pass of its own, fastest of --reps;
 * then the whole step as the trainer records it (one pass) is timed the same
 * way, and the trainer's wall time per step (loss read back once per timing)
 * beside it. Their differences say what a step loses between kernels (the
 * one pass's GPU time over the sum of its kernels) and outside the GPU
 * (wall time over GPU time: encoding, submits, waits); the host's time to
 * encode the step is timed alone too. Without
 * `timestamp-query` it stops and says so: wall-clock time per lone dispatch
 * is mostly submit and wait.
 *
 *   tsx packages/gpu-webgpu/bench/profile.ts [--config 2048,64,1,32,64] [--reps 5] [--steps 30] [--top 20]
 */
import { Effect, Layer } from "effect"
import * as os from "node:os"
import { parseArgs } from "node:util"
import { type Dispatch, encodeDispatches } from "../src/device/gpu.ts"
import { passTimes } from "../src/device/timestamps.ts"
import { adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import { pickKernels, tileName } from "../src/train/autotune.ts"
import { stepDispatches } from "./step-dispatches.ts"
import { configName, parseConfig, timeTraining } from "./timing.ts"

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "2048,64,1,32,64" },
    reps: { type: "string", default: "5" },
    steps: { type: "string", default: "30" },
    top: { type: "string", default: "20" }
  }
})
const c = parseConfig("--config", args.config)
const reps = Math.max(1, Number(args.reps))
/**
 * Host nanoseconds to record the step's dispatches into one pass and finish the command buffer (not submitted),
 * fastest of 5 rounds of 20: the host's floor per step when the GPU keeps up.
 */
const encodeTime = (device: GPUDevice, dispatches: ReadonlyArray<Dispatch>) => {
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < 20; i++) {
      const enc = device.createCommandEncoder()
      encodeDispatches(enc, dispatches)
      enc.finish()
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 20)
  }
  return best
}

const us = (ns: number) => (ns / 1000).toFixed(1)

const main = Effect.gen(function* () {
  const gpu = yield* WebGpu
  const p = adapterProvenance(gpu)
  const { tile, fuseGelu } = yield* pickKernels(gpu, ".cache", true)
  console.log(`adapter: ${p.vendor} / ${p.description}; tile ${tileName(tile)}; load ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`)
  if (!gpu.device.features.has("timestamp-query")) {
    console.log("this adapter has no timestamp-query: no GPU times to report")
    return
  }
  const rows = yield* Effect.scoped(
    Effect.gen(function* () {
      const { list, micro, accum } = yield* stepDispatches({ ...c, B: c.batch }, tile, fuseGelu)
      const each = yield* passTimes(
        gpu.device,
        list.map(([, d]) => [d]),
        reps
      )
      // The step as the trainer runs it: forward and backward once per micro-batch, then the optimizer.
      const of = (optimizer: boolean) => list.filter(([pass]) => (pass === "optimizer") === optimizer).map(([, d]) => d)
      const step = [...Array.from({ length: accum }, () => of(false)).flat(), ...of(true)]
      const [whole] = yield* passTimes(gpu.device, [step], reps)
      return { list, each, whole: whole!, encode: encodeTime(gpu.device, step), micro, accum }
    })
  )
  const wall = yield* timeTraining(c, { precision: "fp32", tile, fuseGelu }, Number(args.steps))
  /** Times a dispatch runs per step: forward and backward once per micro-batch. */
  const runs = (pass: string) => (pass === "optimizer" ? 1 : rows.accum)
  const perStep = rows.list.map(([pass], i) => rows.each[i]! * runs(pass))
  const sum = perStep.reduce((a, b) => a + b, 0)
  const batching = rows.accum > 1 ? `, trained as ${rows.accum} micro-batches of ${rows.micro} (forward and backward run ${rows.accum}× a step)` : ""
  console.log(
    `${configName(c)}${batching}: ${rows.list.length} dispatches; GPU time of each in its own pass (µs, fastest of ${reps}) and its share of a step\n`
  )
  const order = rows.list.map((_, i) => i).sort((a, b) => perStep[b]! - perStep[a]!)
  const width = Math.max(...rows.list.map(([, d]) => d.label.length))
  console.log(`${"pass".padEnd(9)} ${"dispatch".padEnd(width)} ${"workgroups".padStart(10)} ${"µs".padStart(9)}  share`)
  for (const i of order.slice(0, Number(args.top))) {
    const [pass, d] = rows.list[i]!
    const wg = d.workgroups[0] * d.workgroups[1] * d.workgroups[2]
    console.log(
      `${pass.padEnd(9)} ${d.label.padEnd(width)} ${String(wg).padStart(10)} ${us(rows.each[i]!).padStart(9)}  ${((100 * perStep[i]!) / sum).toFixed(1).padStart(5)}%`
    )
  }
  const byPass = new Map<string, number>()
  rows.list.forEach(([pass], i) => byPass.set(pass, (byPass.get(pass) ?? 0) + perStep[i]!))
  console.log(`\nper step and pass (µs): ${[...byPass].map(([k, v]) => `${k} ${us(v)}`).join(", ")}`)
  console.log(`sum of the step's dispatches alone: ${us(sum)} µs`)
  console.log(`the step in one pass (GPU time):    ${us(rows.whole)} µs`)
  console.log(`host time to encode the step:       ${us(rows.encode)} µs (one pass, not submitted)`)
  console.log(`the trainer's wall time per step:   ${(wall.msPerStep * 1000).toFixed(1)} µs (${args.steps} steps, loss read once)`)
})

Effect.runPromise(Effect.scoped(main.pipe(Effect.provide(Layer.fresh(WebGpu.layer))))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
