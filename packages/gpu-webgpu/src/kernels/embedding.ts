/** Embedding gather (forward) and deterministic scatter-add (backward), embedding.wgsl. */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { alignedBinding, type Dispatch, grid1d, makeDispatch, type Slice } from "../device/gpu.ts"
import { wgsl } from "./common.ts"
import { columnSum, columnSumScratch } from "./reduce.ts"

const code = wgsl("embedding.wgsl")

export interface EmbeddingShape {
  /** Rows (B·T tokens). */
  readonly N: number
  readonly T: number
  readonly d: number
  readonly V: number
}
const uniform = (s: EmbeddingShape, shift = 0) => [{ u: s.N }, { u: s.T }, { u: s.d }, { u: s.V }, { u: shift }]

/** x = wte[tokens] + wpe[n mod T]; `wpe` may start anywhere (the incremental pass binds one row of the table). */
export const embeddingForward = (
  device: GPUDevice,
  s: EmbeddingShape & { tokens: Slice; wte: Slice; wpe: Slice; x: Slice }
): Effect.Effect<Dispatch, DeviceError> => {
  const wpe = alignedBinding(device, s.wpe)
  return makeDispatch(device, {
    label: "embedding",
    code,
    entry: "forward",
    uniform: uniform(s, wpe.shift),
    bindings: [
      [1, s.tokens],
      [2, s.wte],
      [3, wpe.slice],
      [4, s.x]
    ],
    workgroups: grid1d(s.N * s.d, 256)
  })
}

/** Floats of scratch embeddingBackward needs (the position gradient's partial sums). */
export const embeddingBackwardScratch = (s: Pick<EmbeddingShape, "N" | "T" | "d">): number => columnSumScratch(s.N / s.T, s.T * s.d)

/**
 * dwte += gather over the CSR index (see tokenIndex); dwpe += Σ over the batch,
 * dx seen as [N/T, T·d], in two passes (columnSum; `partials`: embeddingBackwardScratch floats).
 */
export const embeddingBackward = (
  device: GPUDevice,
  s: EmbeddingShape & { dx: Slice; rowStart: Slice; rowIdx: Slice; dwte: Slice; dwpe: Slice; partials: Slice }
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
  Effect.map(
    Effect.all([
      makeDispatch(device, {
        label: "embedding",
        code,
        entry: "backward_tokens",
        uniform: uniform(s),
        bindings: [
          [5, s.dx],
          [6, s.rowStart],
          [7, s.rowIdx],
          [8, s.dwte]
        ],
        workgroups: grid1d(s.V * s.d, 256)
      }),
      columnSum(device, { rows: s.N / s.T, cols: s.T * s.d, x: s.dx, out: s.dwpe, partials: s.partials, accumulate: true })
    ]),
    ([tokens, positions]) => [tokens, ...positions]
  )

/**
 * Rows grouped by token id (counting sort, so each token's rows stay in
 * increasing order and the gradient sum order is fixed): rowStart has V+1
 * entries, rowIdx the N row numbers.
 */
export const tokenIndex = (tokens: Uint32Array, V: number): { rowStart: Uint32Array; rowIdx: Uint32Array } => {
  const rowStart = new Uint32Array(V + 1)
  for (const t of tokens) rowStart[t + 1]++
  for (let v = 0; v < V; v++) rowStart[v + 1] += rowStart[v]
  const fillAt = rowStart.slice(0, V)
  const rowIdx = new Uint32Array(tokens.length)
  for (let n = 0; n < tokens.length; n++) rowIdx[fillAt[tokens[n]]++] = n
  return { rowStart, rowIdx }
}
