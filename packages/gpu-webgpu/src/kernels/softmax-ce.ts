/** Fused softmax + cross-entropy (softmax_ce.wgsl) and per-sequence bit totals. */
import type { DeviceError } from "@memorize/core"
import type { Effect } from "effect"
import { type Dispatch, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"

const code = wgsl("softmax_ce.wgsl")
/** Target id meaning "nothing to predict here". */
export const NO_TARGET = 0xffffffff

const uniform = (rows: number, V: number, scale: number, writeGrad: boolean, T: number) => [
  { u: rows },
  { u: V },
  { f: scale },
  { u: writeGrad ? 1 : 0 },
  { u: T }
]

/** loss (nats), log2 p per row (a workgroup per row); with `gradScale`, logits are overwritten by (softmax − onehot)·gradScale. */
export const softmaxCrossEntropy = (
  device: GPUDevice,
  s: { rows: number; V: number; logits: Slice; targets: Slice; loss: Slice; logp2: Slice; gradScale?: number }
): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "softmax-ce",
    code,
    entry: "main",
    uniform: uniform(s.rows, s.V, s.gradScale ?? 0, s.gradScale !== undefined, 1),
    bindings: [
      [1, s.logits],
      [2, s.targets],
      [3, s.loss],
      [4, s.logp2]
    ],
    workgroups: grid1d(s.rows, 1)
  })

/** bits[b] = −Σ_t log2 p over the T positions of sequence b. */
export const sequenceBits = (device: GPUDevice, s: { sequences: number; T: number; logp2: Slice; bits: Slice }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "softmax-ce",
    code,
    entry: "seq_bits",
    uniform: uniform(s.sequences * s.T, 1, 0, false, s.T),
    bindings: [
      [4, s.logp2],
      [5, s.bits]
    ],
    workgroups: grid1d(s.sequences, 64)
  })
