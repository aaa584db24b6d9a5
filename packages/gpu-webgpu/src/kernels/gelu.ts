/** GELU kernels (gelu.wgsl). The matmul epilogue fuses the forward with the bias; the backward stays separate. */
import type { DeviceError } from "@memorize/core"
import type { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { geluFns, wgsl } from "./common.ts"

const code = fill(wgsl("gelu.wgsl"), { GELU: geluFns })

export const geluForward = (device: GPUDevice, s: { n: number; x: Slice; y: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "gelu",
    code,
    entry: "forward",
    uniform: [{ u: s.n }],
    bindings: [
      [1, s.x],
      [2, s.y]
    ],
    workgroups: grid1d(s.n, 256)
  })

/** dx = dy · gelu'(x), x the pre-activation. */
export const geluBackward = (device: GPUDevice, s: { n: number; x: Slice; dy: Slice; dx: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "gelu",
    code,
    entry: "backward",
    uniform: [{ u: s.n }],
    bindings: [
      [1, s.x],
      [3, s.dy],
      [4, s.dx]
    ],
    workgroups: grid1d(s.n, 256)
  })
