/** Fused softmax + cross-entropy (softmax_ce.wgsl) and per-sequence bit totals. */
import type { DeviceError } from "@memorize/core"
import type { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"

const source = wgsl("softmax_ce.wgsl")
/** Widest row kept in private memory: 256 invocations × 16 values each (64 bytes each; registers once the loops unroll). */
const CACHE_MAX = 16
/** The kernel for rows of V logits: rows up to 256·CACHE_MAX wide are read once, wider ones streamed twice. */
const codeFor = (V: number) => {
  const cache = V <= 256 * CACHE_MAX ? Math.ceil(V / 256) : 0
  return fill(source, { CACHE: cache, CACHE_SLOTS: Math.max(1, cache) })
}
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
    code: codeFor(s.V),
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
    code: codeFor(1),
    entry: "seq_bits",
    uniform: uniform(s.sequences * s.T, 1, 0, false, s.T),
    bindings: [
      [4, s.logp2],
      [5, s.bits]
    ],
    workgroups: grid1d(s.sequences, 64)
  })
