/** Deterministic reductions (reduce.wgsl): column sums, and sums / sums of squares of a whole buffer. */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"

const source = wgsl("reduce.wgsl")
/** Workgroups of the first pass (each strides over the whole input). */
export const REDUCE_GROUPS = 64
const codeFor = (square: boolean) => fill(source, { SQUARE: square ? "true" : "false", GROUPS: REDUCE_GROUPS })

/** out[c] (+)= Σ_r x[r, c]. */
export const columnSum = (device: GPUDevice, s: { rows: number; cols: number; x: Slice; out: Slice; accumulate: boolean }): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "reduce", code: codeFor(false), entry: "colsum", uniform: [{ u: s.rows }, { u: s.cols }, { u: 0 }, { u: s.accumulate ? 1 : 0 }],
    bindings: [[1, s.x], [2, s.out]], workgroups: grid1d(s.cols, 64)
  })

/** out[0] (+)= Σ x (or Σ x² when `square`); `partials` holds REDUCE_GROUPS floats. */
export const totalSum = (
  device: GPUDevice,
  s: { n: number; x: Slice; out: Slice; partials: Slice; square: boolean; accumulate: boolean }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
  const code = codeFor(s.square)
  const uniform = [{ u: 0 }, { u: 0 }, { u: s.n }, { u: s.accumulate ? 1 : 0 }]
  return Effect.all([
    makeDispatch(device, { label: "reduce", code, entry: "partial", uniform, bindings: [[1, s.x], [3, s.partials]], workgroups: [REDUCE_GROUPS, 1, 1] }),
    makeDispatch(device, { label: "reduce", code, entry: "final_sum", uniform, bindings: [[2, s.out], [3, s.partials]], workgroups: [1, 1, 1] })
  ])
}
