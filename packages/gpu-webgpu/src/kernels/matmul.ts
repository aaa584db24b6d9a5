/**
 * Matmul wrapper: C = op(A)·op(B) (+ bias) (+ residual) (+ C) (→ GELU), with
 * the tile shape as a specialization choice (register-tiled or shared-memory
 * tiled; see autotune.ts for how one is picked per adapter).
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { bindGroup, type Dispatch, fill, pipeline, type Slice, uniformBuffer } from "../device/gpu.ts"
import { enableFor, geluFns, type OperandRounding, roundFn, wgsl } from "./common.ts"

export interface MatmulTile {
  readonly kind: "register" | "shared"
  /** Rows × columns of C per invocation. */
  readonly tm: number
  readonly tn: number
  /** Workgroup size (x along columns, y along rows). */
  readonly wx: number
  readonly wy: number
  /** K step through workgroup memory (shared only). */
  readonly bk: number
}

export const registerTile: MatmulTile = { kind: "register", tm: 4, tn: 4, wx: 8, wy: 8, bk: 0 }
export const sharedTile: MatmulTile = { kind: "shared", tm: 4, tn: 4, wx: 16, wy: 16, bk: 16 }

export interface MatmulSpec {
  readonly M: number
  readonly N: number
  readonly K: number
  /** A stored [K,M] instead of [M,K]. */
  readonly transA: boolean
  /** B stored [N,K] instead of [K,N]. */
  readonly transB: boolean
  readonly a: Slice
  readonly b: Slice
  readonly c: Slice
  readonly bias?: Slice
  /** C = ... + residual (a different buffer from C). */
  readonly residual?: Slice
  /** C += ... (gradient accumulation). */
  readonly accumulate?: boolean
  /** Apply GELU; the pre-activation is written to `pre`. */
  readonly gelu?: { readonly pre: Slice }
  readonly rounding: OperandRounding
  readonly tile: MatmulTile
}

const sources = { register: wgsl("matmul_register.wgsl"), shared: wgsl("matmul_shared.wgsl") }

export const matmulCode = (s: Omit<MatmulSpec, "a" | "b" | "c" | "bias" | "residual" | "gelu" | "M" | "N" | "K"> & {
  readonly bias: boolean
  readonly residual: boolean
  readonly gelu: boolean
}): string => {
  const epi: Array<string> = []
  if (s.bias) epi.push("v += bias[j];")
  if (s.residual) epi.push("v += R[idx];")
  if (s.accumulate) epi.push("v += C[idx];")
  if (s.gelu) epi.push("PRE[idx] = v;", "C[idx] = gelu(v);")
  else epi.push("C[idx] = v;")
  return fill(sources[s.tile.kind], {
    ENABLE: enableFor(s.rounding),
    ROUND: roundFn(s.rounding),
    GELU: s.gelu ? geluFns : "",
    TM: s.tile.tm,
    TN: s.tile.tn,
    WX: s.tile.wx,
    WY: s.tile.wy,
    BK: s.tile.bk,
    LOAD_A: s.transA ? "A[k * p.M + i]" : "A[i * p.K + k]",
    LOAD_B: s.transB ? "B[j * p.K + k]" : "B[k * p.N + j]",
    EPILOGUE: epi.join("\n  ")
  })
}

export const matmulWorkgroups = (M: number, N: number, t: MatmulTile): readonly [number, number, number] => [
  Math.ceil(N / (t.tn * t.wx)),
  Math.ceil(M / (t.tm * t.wy)),
  1
]

export const matmul = (device: GPUDevice, s: MatmulSpec, label = "matmul"): Effect.Effect<Dispatch, DeviceError> =>
  Effect.gen(function* () {
    const code = matmulCode({ ...s, bias: s.bias !== undefined, residual: s.residual !== undefined, gelu: s.gelu !== undefined })
    const pl = yield* pipeline(device, `matmul-${s.tile.kind}`, code, "main")
    const params = uniformBuffer(device, `${label}:params`, [{ u: s.M }, { u: s.N }, { u: s.K }, { u: 0 }])
    const res: Array<readonly [number, GPUBuffer | Slice]> = [[0, params], [1, s.a], [2, s.b], [3, s.c]]
    if (s.bias) res.push([4, s.bias])
    if (s.residual) res.push([5, s.residual])
    if (s.gelu) res.push([6, s.gelu.pre])
    return { label, pipeline: pl, bindGroup: bindGroup(device, pl, label, res), workgroups: matmulWorkgroups(s.M, s.N, s.tile) }
  })
