/** Test helpers: seeded random arrays, uploads, and float comparison with a stated tolerance. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { encodeDispatches, readFloats, uploadBuffer, type Slice } from "../src/device/gpu.ts"
import type { BatchArrays } from "../src/model/batch.ts"
import type { GpuGpt2Engine } from "../src/model/gpu-model.ts"
import type { Plan } from "../src/model/plan.ts"
import { seededUniform } from "../src/model/init.ts"

/** Seeded PRNG for test data (the trainer's own generator). */
export const rng = seededUniform

export const randn = (n: number, seed: number, scale = 1): Float32Array => {
  const r = rng(seed)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale
  return out
}

export const randInts = (n: number, max: number, seed: number): Uint32Array => {
  const r = rng(seed)
  return Uint32Array.from({ length: n }, () => Math.floor(r() * max))
}

export const up = (device: GPUDevice, data: Float32Array | Uint32Array, label = "test"): Slice => ({
  buffer: uploadBuffer(device, label, data),
  offset: 0,
  size: data.length * 4
})

export const down = (device: GPUDevice, s: Slice, n?: number) => readFloats(device, s, n)

/** Max |a-b| / (atol + rtol·|b|) must be ≤ 1. */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what = "") => {
  expect(actual.length, `${what} length`).toBe(expected.length)
  let worst = 0
  let at = -1
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]))
    if (!(e <= worst)) {
      worst = e
      at = i
    }
  }
  expect(worst, `${what}: worst at ${at}: got ${actual[at]}, want ${expected[at]}`).toBeLessThanOrEqual(1)
}

export const gpuEffect = Effect.fnUntraced

/** The WebGPU backend's flat gradient of one batch's loss (forward + backward into the cleared gradient buffer). */
export const webgpuGradient = (engine: GpuGpt2Engine, plan: Plan, batch: BatchArrays) =>
  Effect.gen(function* () {
    engine.upload(plan, batch)
    plan.setGradScale(1 / batch.predicted)
    const enc = engine.device.createCommandEncoder()
    enc.clearBuffer(engine.grads)
    encodeDispatches(enc, [...plan.forward, ...plan.backward])
    engine.device.queue.submit([enc.finish()])
    return yield* readFloats(engine.device, engine.grads, engine.layout.total)
  })
