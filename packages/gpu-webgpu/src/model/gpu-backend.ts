/**
 * The WebGPU model's batch primitives for evaluation.ts (`BatchBackend`):
 * log-probabilities and the logits at one position through a full forward
 * plan, the incremental pass (gpu-decoder.ts) and the host quantizer.
 */
import { type DeviceError, ModelError } from "@memorize/core"
import { Effect } from "effect"
import { readFloats, run } from "../device/gpu.ts"
import type { BatchArrays } from "./batch.ts"
import type { BatchBackend } from "./evaluation.ts"
import type { Plan } from "./plan.ts"
import type { Gpt2Shape } from "./weights.ts"

const toModelError = (what: string) => (e: DeviceError) => new ModelError({ message: `${what}: ${e.message}` })

export interface GpuBackendParts {
  readonly device: GPUDevice
  readonly shape: Gpt2Shape
  readonly plan: (B: number, T: number) => Effect.Effect<Plan, DeviceError>
  /** Writes a batch's tokens and targets into a plan's input buffers. */
  readonly uploadInputs: (plan: Plan, batch: Pick<BatchArrays, "tokens" | "targets">) => void
  readonly maxMicroBatch: BatchBackend["maxMicroBatch"]
  readonly decoder: BatchBackend["decoder"]
  readonly quantize: BatchBackend["quantize"]
}

export const gpuBatchBackend = ({ device, shape, plan, uploadInputs, maxMicroBatch, decoder, quantize }: GpuBackendParts): BatchBackend => ({
  maxMicroBatch,
  logProbs: (B, T, tokens, targets) =>
    Effect.gen(function* () {
      const p = yield* plan(B, T)
      uploadInputs(p, { tokens, targets })
      run(device, [...p.forward, ...p.evaluate], `evaluate ${B}×${T}`)
      return yield* readFloats(device, p.logp2, B * T)
    }).pipe(Effect.mapError(toModelError("evaluate"))),
  logitsAt: (B, T, tokens, pos) =>
    Effect.gen(function* () {
      const p = yield* plan(B, T)
      device.queue.writeBuffer(p.tokens.buffer, 0, tokens)
      run(device, [...p.forward, ...p.logitsPass], `logits ${B}×${T}`)
      const V = shape.vocabSize
      const all = yield* readFloats(device, p.logits, B * T * V)
      const out = new Float32Array(B * V)
      for (let b = 0; b < B; b++) out.set(all.subarray((b * T + pos) * V, (b * T + pos + 1) * V), b * V)
      return out
    }).pipe(Effect.mapError(toModelError("nextTokenLogits"))),
  decoder,
  ...(quantize !== undefined ? { quantize } : {})
})
