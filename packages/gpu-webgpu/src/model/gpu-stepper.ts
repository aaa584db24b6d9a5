/**
 * One training step of the WebGPU model for train/loop.ts (`Stepper`): the
 * forward and backward of each micro-batch accumulated into the gradient
 * buffer, then the gradient norm (for clipping) and AdamW, in two submits;
 * each step's loss copied into a ring the loop reads back now and then.
 */
import type { DeviceError } from "@memorize/core"
import { Effect, type Scope } from "effect"
import { type Dispatch, encodeDispatches, readFloats, type Slice, storageBuffer, submit } from "../device/gpu.ts"
import { adamw } from "../kernels/adamw.ts"
import type { Precision } from "../kernels/common.ts"
import { REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import type { Stepper } from "../train/loop.ts"
import type { BatchArrays } from "./batch.ts"
import type { ParamLayout } from "./layout.ts"
import type { Plan } from "./plan.ts"

export interface GpuStepperParts {
  readonly device: GPUDevice
  readonly layout: ParamLayout
  readonly params: GPUBuffer
  readonly grads: GPUBuffer
  readonly precision: Precision
  readonly plan: (B: number, T: number) => Effect.Effect<Plan, DeviceError>
  /** Writes a batch's inputs, targets and token index into a plan. */
  readonly upload: (plan: Plan, batch: Pick<BatchArrays, "tokens" | "targets">) => void
}

/**
 * The forward and backward passes of a step's `accum` micro-batches, one
 * submit each, gradients and summed loss accumulated from cleared buffers;
 * `upload(a)` writes micro-batch a's inputs first. (Shared with pack.ts,
 * whose `work` runs over its models.)
 */
export const submitPasses = (
  device: GPUDevice,
  p: Plan,
  grads: GPUBuffer,
  work: ReadonlyArray<Dispatch>,
  accum: number,
  upload: (a: number) => void,
  kind: string
): void => {
  for (let a = 0; a < accum; a++) {
    upload(a)
    const enc = device.createCommandEncoder()
    if (a === 0) {
      enc.clearBuffer(grads)
      enc.clearBuffer(p.lossSum.buffer)
    }
    encodeDispatches(enc, work)
    submit(device, enc, work.length, kind)
  }
}

/** The stepper for micro-batches of `micro` rows of T positions, with a loss ring of `ring` slots (Adam moments live in its scope). */
export const gpuStepper =
  ({ device, layout, params, grads, precision, plan, upload }: GpuStepperParts) =>
  (micro: number, T: number, ring: number): Effect.Effect<Stepper, DeviceError, Scope.Scope> =>
    Effect.gen(function* () {
      const p = yield* plan(micro, T)
      const sl = (b: GPUBuffer, n: number): Slice => ({ buffer: b, offset: 0, size: n * 4 })
      const scratch = [
        storageBuffer(device, "m", layout.total),
        storageBuffer(device, "v", layout.total),
        storageBuffer(device, "normSq", 1),
        storageBuffer(device, "partials", REDUCE_GROUPS),
        storageBuffer(device, "lossLog", ring)
      ]
      yield* Effect.addFinalizer(() => Effect.sync(() => scratch.forEach((b) => b.destroy())))
      const [m, v, normSq, partials, lossLog] = scratch
      const all = sl(grads, layout.total)
      // One kind of work for pacing: a step repeats the same mix of dispatches.
      const kind = `train ${micro}×${T}`
      const opt = yield* adamw(device, {
        n: layout.total,
        decayEnd: layout.decayEnd,
        params: sl(params, layout.total),
        grads: all,
        m: sl(m, layout.total),
        v: sl(v, layout.total),
        normSq: sl(normSq, 1),
        roundParamsBf16: precision === "bf16-params"
      })
      const norm = yield* totalSum(device, {
        n: layout.total,
        x: all,
        out: sl(normSq, 1),
        partials: sl(partials, REDUCE_GROUPS),
        square: true,
        accumulate: false
      })
      return {
        step: (chunks, gradScale, adam, slot) =>
          Effect.sync(() => {
            p.setGradScale(gradScale)
            submitPasses(device, p, grads, [...p.forward, ...p.backward], chunks.length, (a) => upload(p, chunks[a]!), kind)
            opt.setStep(adam, adam.step)
            const enc = device.createCommandEncoder()
            const update = [...(adam.clip > 0 ? norm : []), opt.dispatch]
            encodeDispatches(enc, update)
            enc.copyBufferToBuffer(p.lossSum.buffer, 0, lossLog, slot * 4, 4)
            submit(device, enc, update.length, kind)
          }),
        losses: () => readFloats(device, sl(lossLog, ring), ring)
      } satisfies Stepper
    })
