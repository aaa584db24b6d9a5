/** Causal multi-head attention kernels (attention.wgsl). */
import { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { type OperandRounding, roundFn, wgsl } from "./common.ts"

const source = wgsl("attention.wgsl")
// A staged tile holds at most 4,096 floats: WebGPU's guaranteed 16 KiB of workgroup storage.
const TILE_FLOATS = 4096
// Each invocation keeps two rows of the head in function memory; past 1,024 floats they would
// exceed what WGSL guarantees per function (8 KiB).
export const MAX_HEAD_WIDTH = 1024
const codeFor = (s: AttentionShape): Effect.Effect<string, DeviceError> => {
  const hd = s.d / s.H
  if (hd > MAX_HEAD_WIDTH)
    return Effect.fail(
      new DeviceError({
        message: `attention: head width d/heads = ${s.d}/${s.H} = ${hd} is above ${MAX_HEAD_WIDTH}, the widest the WebGPU kernel holds (use more heads)`
      })
    )
  return Effect.succeed(fill(source, { ROUND: roundFn(s.rounding), HD: hd, KT: Math.max(1, Math.min(32, Math.floor(TILE_FLOATS / hd))) }))
}

export interface AttentionShape {
  readonly B: number
  readonly T: number
  readonly d: number
  readonly H: number
  readonly rounding: OperandRounding
}
const uniform = (s: AttentionShape) => [{ u: s.B }, { u: s.T }, { u: s.d }, { u: s.H }, { f: 1 / Math.sqrt(s.d / s.H) }]
// One workgroup per 32 rows of a (sequence, head) block.
const rows = (s: AttentionShape) => grid1d(Math.ceil(s.T / 32) * s.B * s.H, 1)

/** out [B·T, d] and probabilities P [B,H,T,T] from qkv [B·T, 3d]. */
export const attentionForward = (device: GPUDevice, s: AttentionShape & { qkv: Slice; out: Slice; probs: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  Effect.flatMap(codeFor(s), (code) =>
    makeDispatch(device, {
      label: "attention",
      code,
      entry: "forward",
      uniform: uniform(s),
      bindings: [
        [1, s.qkv],
        [2, s.out],
        [3, s.probs]
      ],
      workgroups: rows(s)
    })
  )

/** Two dispatches: dS and dq per query row, then dk, dv per key row (into dqkv). */
export const attentionBackward = (
  device: GPUDevice,
  s: AttentionShape & { qkv: Slice; probs: Slice; dout: Slice; dscores: Slice; dqkv: Slice }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
  Effect.flatMap(codeFor(s), (code) =>
    Effect.all(
      ["backward_query", "backward_key"].map((entry) =>
        makeDispatch(device, {
          label: "attention",
          code,
          entry,
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
      )
    )
  )
