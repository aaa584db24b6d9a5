/**
 * Deterministic reductions (reduce.wgsl), all in a fixed order without
 * atomics: column sums and other "many rows → few outputs" sums in two
 * passes (row blocks × columns into partial sums, then the partials added
 * slice by slice), and sums / sums of squares of a whole buffer.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, fill, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"

const source = wgsl("reduce.wgsl")
/** Workgroups of totalSum's first pass (each strides over the whole input). */
export const REDUCE_GROUPS = 256
/** Invocations a first pass aims for (≈ 512 workgroups of 64: fills a 132-SM GPU several times). */
export const FIRST_PASS_TARGET = 32768
/** Fewest rows a first-pass invocation sums. */
export const MIN_ROW_BLOCK = 4

/** How a column reduction over [rows, cols] is blocked: `block` rows per partial sum, `blocks` partials per column. */
export const rowBlocking = (rows: number, cols: number, block?: number): { readonly block: number; readonly blocks: number } => {
  const b = block ?? Math.max(MIN_ROW_BLOCK, Math.ceil((rows * cols) / FIRST_PASS_TARGET))
  return { block: b, blocks: Math.max(1, Math.ceil(rows / b)) }
}

/** Floats of scratch a columnSum over [rows, cols] needs. */
export const columnSumScratch = (rows: number, cols: number, block?: number): number => rowBlocking(rows, cols, block).blocks * cols

/** Lanes per output of the second pass (a workgroup is 64/lanes outputs × lanes): more lanes when there are few outputs. */
export const lanesFor = (outputs: number): number => (outputs <= 256 ? 64 : outputs <= 4096 ? 16 : 4)

type Store = "plain" | "pair"
const stores: Record<Store, string> = {
  plain: "if (p.accumulate != 0u) { v += OUT[o]; }\n    OUT[o] = v;",
  pair: "if (o < p.split) { OUT[o] += v; } else { OUT2[o - p.split] += v; }"
}
const codeFor = (square: boolean, lanes = 64, store: Store = "plain") =>
  fill(source, { SQUARE: square ? "true" : "false", GROUPS: REDUCE_GROUPS, LANES: lanes, STORE: stores[store] })

/**
 * Second pass: out[o] (+)= Σ_s partials[s·outputs + o] over `slices` slices, in
 * slice order within each lane and a fixed tree across lanes. With `out2`,
 * outputs from `split` on go to out2[o − split] and both are accumulated.
 */
export const reduceSlices = (
  device: GPUDevice,
  s: { slices: number; outputs: number; partials: Slice; out: Slice; accumulate: boolean; out2?: { readonly slice: Slice; readonly split: number } },
  label = "reduce"
): Effect.Effect<Dispatch, DeviceError> => {
  const lanes = lanesFor(s.outputs)
  const bindings: Array<readonly [number, Slice]> = [
    [2, s.out],
    [3, s.partials]
  ]
  if (s.out2) bindings.push([4, s.out2.slice])
  return makeDispatch(device, {
    label,
    code: codeFor(false, lanes, s.out2 ? "pair" : "plain"),
    entry: "reduce_slices",
    uniform: [{ u: s.slices }, { u: s.outputs }, { u: 0 }, { u: s.accumulate ? 1 : 0 }, { u: 0 }, { u: s.out2?.split ?? 0 }, { u: 0 }, { u: 0 }],
    bindings,
    workgroups: grid1d(s.outputs, 64 / lanes)
  })
}

/**
 * out[c] (+)= Σ_r x[r, c] in two passes: blocks of `block` rows × columns
 * into `partials` (columnSumScratch floats), then reduceSlices.
 */
export const columnSum = (
  device: GPUDevice,
  s: { rows: number; cols: number; x: Slice; out: Slice; partials: Slice; accumulate: boolean; block?: number }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
  const { block, blocks } = rowBlocking(s.rows, s.cols, s.block)
  return Effect.all([
    makeDispatch(device, {
      label: "reduce",
      code: codeFor(false),
      entry: "colsum_partial",
      uniform: [{ u: s.rows }, { u: s.cols }, { u: 0 }, { u: 0 }, { u: block }, { u: 0 }, { u: 0 }, { u: 0 }],
      bindings: [
        [1, s.x],
        [3, s.partials]
      ],
      workgroups: grid1d(blocks * s.cols, 64)
    }),
    reduceSlices(device, { slices: blocks, outputs: s.cols, partials: s.partials, out: s.out, accumulate: s.accumulate })
  ])
}

/** out[0] (+)= Σ x (or Σ x² when `square`); `partials` holds REDUCE_GROUPS floats. */
export const totalSum = (
  device: GPUDevice,
  s: { n: number; x: Slice; out: Slice; partials: Slice; square: boolean; accumulate: boolean }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
  const code = codeFor(s.square)
  const uniform = [{ u: 0 }, { u: 0 }, { u: s.n }, { u: s.accumulate ? 1 : 0 }, { u: 0 }, { u: 0 }, { u: 0 }, { u: 0 }]
  return Effect.all([
    makeDispatch(device, {
      label: "reduce",
      code,
      entry: "partial",
      uniform,
      bindings: [
        [1, s.x],
        [3, s.partials]
      ],
      workgroups: [REDUCE_GROUPS, 1, 1]
    }),
    makeDispatch(device, {
      label: "reduce",
      code,
      entry: "final_sum",
      uniform,
      bindings: [
        [2, s.out],
        [3, s.partials]
      ],
      workgroups: [1, 1, 1]
    })
  ])
}
