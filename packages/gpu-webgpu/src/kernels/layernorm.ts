/** LayerNorm kernels (layernorm.wgsl): forward, backward to input, backward to gain/bias. */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"
import { reduceSlices, rowBlocking } from "./reduce.ts"

const code = wgsl("layernorm.wgsl")
const uniform = (rows: number, d: number, eps: number, accumulate: boolean, block = 0) => [
  { u: rows },
  { u: d },
  { f: eps },
  { u: accumulate ? 1 : 0 },
  { u: block },
  { u: 0 },
  { u: 0 },
  { u: 0 }
]

/** y = LN(x)·g + b (a workgroup of 32 per row); stats (2 per row: mean, 1/std) kept for the backward pass. */
export const layerNormForward = (
  device: GPUDevice,
  s: { rows: number; d: number; eps: number; x: Slice; g: Slice; b: Slice; y: Slice; stats: Slice }
): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "layernorm",
    code,
    entry: "forward",
    uniform: uniform(s.rows, s.d, s.eps, false),
    bindings: [
      [1, s.x],
      [2, s.g],
      [3, s.b],
      [4, s.y],
      [5, s.stats]
    ],
    workgroups: grid1d(s.rows, 1)
  })

/** dx (= or +=) ∂L/∂x from dy (a workgroup of 32 per row). */
export const layerNormBackwardInput = (
  device: GPUDevice,
  s: { rows: number; d: number; x: Slice; g: Slice; stats: Slice; dy: Slice; dx: Slice; accumulate: boolean }
): Effect.Effect<Dispatch, DeviceError> =>
  makeDispatch(device, {
    label: "layernorm",
    code,
    entry: "backward_input",
    uniform: uniform(s.rows, s.d, 0, s.accumulate),
    bindings: [
      [1, s.x],
      [2, s.g],
      [5, s.stats],
      [6, s.dy],
      [7, s.dx]
    ],
    workgroups: grid1d(s.rows, 1)
  })

/** Floats of scratch layerNormBackwardParams needs. */
export const layerNormParamsScratch = (rows: number, d: number, block?: number): number => rowBlocking(rows, d, block).blocks * 2 * d

/**
 * dg += Σ dy·x̂, db += Σ dy (column sums over rows) in two passes: row blocks ×
 * columns into `partials` (layerNormParamsScratch floats), then the blocks added in order.
 */
export const layerNormBackwardParams = (
  device: GPUDevice,
  s: { rows: number; d: number; x: Slice; stats: Slice; dy: Slice; dg: Slice; db: Slice; partials: Slice; block?: number }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
  const { block, blocks } = rowBlocking(s.rows, s.d, s.block)
  return Effect.all([
    makeDispatch(device, {
      label: "layernorm",
      code,
      entry: "backward_params_partial",
      uniform: uniform(s.rows, s.d, 0, true, block),
      bindings: [
        [1, s.x],
        [5, s.stats],
        [6, s.dy],
        [10, s.partials]
      ],
      workgroups: grid1d(blocks * s.d, 64)
    }),
    reduceSlices(
      device,
      { slices: blocks, outputs: 2 * s.d, partials: s.partials, out: s.dg, accumulate: true, out2: { slice: s.db, split: s.d } },
      "layernorm"
    )
  ])
}
