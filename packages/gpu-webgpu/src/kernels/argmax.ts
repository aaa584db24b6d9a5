/** Greedy next-token choice at one position of each sequence (argmax.wgsl). */
import type { DeviceError } from "@memorize/core"
import type { Effect } from "effect"
import { type Dispatch, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"

const code = wgsl("argmax.wgsl")

/** Over the first V ids of logits rows `stride` wide (the model's vocabulary: with BOS, V is one less). */
export const argmaxAt = (device: GPUDevice, s: { B: number; T: number; V: number; stride: number; pos: number; logits: Slice; out: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "argmax", code, entry: "main", uniform: [{ u: s.B }, { u: s.T }, { u: s.V }, { u: s.pos }, { u: s.stride }, { u: 0 }, { u: 0 }, { u: 0 }],
    bindings: [[1, s.logits], [2, s.out]], workgroups: [Math.ceil(s.B / 64), 1, 1]
  })
