/** Causal multi-head attention kernels (attention.wgsl). */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { type OperandRounding, roundFn, wgsl } from "./common.ts"

const source = wgsl("attention.wgsl")
const codeFor = (r: OperandRounding) => fill(source, { ROUND: roundFn(r) })

export interface AttentionShape {
  readonly B: number
  readonly T: number
  readonly d: number
  readonly H: number
  readonly rounding: OperandRounding
}
const uniform = (s: AttentionShape) => [{ u: s.B }, { u: s.T }, { u: s.d }, { u: s.H }, { f: 1 / Math.sqrt(s.d / s.H) }]
// 32 rows per workgroup: twice the workgroups of 64, to spread over more compute units (one thread per row; not yet tiled).
const rows = (s: AttentionShape) => grid1d(s.B * s.H * s.T, 32)

/** out [B·T, d] and probabilities P [B,H,T,T] from qkv [B·T, 3d]. */
export const attentionForward = (device: GPUDevice, s: AttentionShape & { qkv: Slice; out: Slice; probs: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "attention",
    code: codeFor(s.rounding),
    entry: "forward",
    uniform: uniform(s),
    bindings: [
      [1, s.qkv],
      [2, s.out],
      [3, s.probs]
    ],
    workgroups: rows(s)
  })

/** Two dispatches: dS and dq per query row, then dk, dv per key row (into dqkv). */
export const attentionBackward = (
  device: GPUDevice,
  s: AttentionShape & { qkv: Slice; probs: Slice; dout: Slice; dscores: Slice; dqkv: Slice }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
  const code = codeFor(s.rounding)
  return Effect.all([
    makeDispatch(device, {
      label: "attention",
      code,
      entry: "backward_query",
      uniform: uniform(s),
      bindings: [
        [1, s.qkv],
        [3, s.probs],
        [4, s.dout],
        [5, s.dscores],
        [6, s.dqkv]
      ],
      workgroups: rows(s)
    }),
    makeDispatch(device, {
      label: "attention",
      code,
      entry: "backward_key",
      uniform: uniform(s),
      bindings: [
        [1, s.qkv],
        [3, s.probs],
        [4, s.dout],
        [5, s.dscores],
        [6, s.dqkv]
      ],
      workgroups: rows(s)
    })
  ])
}
