/** AdamW over all parameters in one dispatch (adamw.wgsl); its uniform is rewritten every step (lr, bias corrections). */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { bindGroup, type Dispatch, fill, grid1d, pipeline, type Slice } from "../device/gpu.ts"
import { roundFn, wgsl } from "./common.ts"

const source = wgsl("adamw.wgsl")

export interface AdamWHyper {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  /** Global-norm clip threshold (≤ 0: no clipping). */
  readonly clip: number
}

export interface AdamWKernel {
  readonly dispatch: Dispatch
  /** Writes this step's hyper-parameters (step is 1-based, for the bias corrections). */
  readonly setStep: (h: AdamWHyper, step: number) => void
}

export const adamw = (
  device: GPUDevice,
  s: { n: number; decayEnd: number; params: Slice; grads: Slice; m: Slice; v: Slice; normSq: Slice; roundParamsBf16: boolean }
): Effect.Effect<AdamWKernel, DeviceError> =>
  Effect.gen(function* () {
    const code = fill(source, { ROUND: roundFn(s.roundParamsBf16 ? "bf16" : "none"), ROUND_PARAMS: s.roundParamsBf16 ? "true" : "false" })
    const pl = yield* pipeline(device, "adamw", code, "main")
    const uniform = device.createBuffer({ label: "adamw:params", size: 48, usage: 0x40 | 0x8 })
    const words = new ArrayBuffer(48)
    const u = new Uint32Array(words)
    const f = new Float32Array(words)
    const setStep = (h: AdamWHyper, step: number) => {
      u[0] = s.n
      u[1] = s.decayEnd
      f[2] = h.lr
      f[3] = h.beta1
      f[4] = h.beta2
      f[5] = h.eps
      f[6] = h.weightDecay
      f[7] = 1 - h.beta1 ** step
      f[8] = 1 - h.beta2 ** step
      f[9] = h.clip
      device.queue.writeBuffer(uniform, 0, words)
    }
    const bg = bindGroup(device, pl, "adamw", [
      [0, uniform],
      [1, s.params],
      [2, s.grads],
      [3, s.m],
      [4, s.v],
      [5, s.normSq]
    ])
    return { dispatch: { label: "adamw", pipeline: pl, bindGroup: bg, workgroups: grid1d(s.n, 256) }, setStep }
  })
