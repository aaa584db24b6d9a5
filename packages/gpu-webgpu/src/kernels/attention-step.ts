/** Attention of one new position over key/value caches (attention_step.wgsl): the incremental pass's attention. */
import type { DeviceError } from "@memorize/core"
import type { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { type OperandRounding, roundFn, wgsl } from "./common.ts"

const source = wgsl("attention_step.wgsl")

export interface AttentionStepShape {
  readonly B: number
  /** Positions each cache holds per sequence. */
  readonly T: number
  /** The position fed (0 ≤ pos < T). */
  readonly pos: number
  readonly d: number
  readonly H: number
  readonly rounding: OperandRounding
}

/** Floats of scratch attentionStep needs at any position (the scores: B·H rows of up to T). */
export const attentionStepScratch = (s: Pick<AttentionStepShape, "B" | "T" | "H">): number => s.B * s.H * s.T

/**
 * k and v of qkv [B, 3d] into row pos of kCache / vCache [B, T, d], then
 * out [B, d] = causal attention of q over cache rows 0…pos; `scores`:
 * attentionStepScratch floats. One thread per (row, head).
 */
export const attentionStep = (
  device: GPUDevice,
  s: AttentionStepShape & { qkv: Slice; kCache: Slice; vCache: Slice; out: Slice; scores: Slice }
): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "attention-step",
    code: fill(source, { ROUND: roundFn(s.rounding) }),
    entry: "main",
    uniform: [{ u: s.B }, { u: s.T }, { u: s.d }, { u: s.H }, { u: s.pos }, { f: 1 / Math.sqrt(s.d / s.H) }],
    bindings: [
      [1, s.qkv],
      [2, s.kCache],
      [3, s.vCache],
      [4, s.out],
      [5, s.scores]
    ],
    workgroups: grid1d(s.B * s.H, 32)
  })
