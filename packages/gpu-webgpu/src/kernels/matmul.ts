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
  /** register: scalar loads, TM×TN per invocation; vec4: 4×4 blocks through vec4 loads (falls back to register when a contiguous dimension is not a multiple of 4); shared: workgroup-memory tiles. */
  readonly kind: "register" | "vec4" | "shared"
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
export const vec4Tile: MatmulTile = { kind: "vec4", tm: 4, tn: 4, wx: 8, wy: 8, bk: 0 }
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

const sources = { register: wgsl("matmul_register.wgsl"), vec4: wgsl("matmul_vec4.wgsl"), shared: wgsl("matmul_shared.wgsl") }

/** Whether both operands' contiguous dimensions are multiples of 4 (the vec4 kernel's requirement). */
export const vec4Fits = (s: { M: number; N: number; K: number; transA: boolean; transB: boolean }): boolean =>
  (s.transA ? s.M : s.K) % 4 === 0 && (s.transB ? s.K : s.N) % 4 === 0

/**
 * vec4 block loads. A vec4 runs along the operand's contiguous dimension;
 * `mat4x4(v0..v3)` takes them as columns, so a block read along k is the
 * transposed block. Rows/columns past M/N are clamped (results discarded),
 * vectors past K (when K is the strided dimension) are zero.
 */
const vec4Loads = (transA: boolean, transB: boolean) => {
  const A = transA
    ? { doc: "stored [K,M]: vec4 along i, columns of the block (matrix = A_blk)",
        load: `var c: array<vec4<f32>, 4>;
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    c[kk] = select(vec4<f32>(0.0), rnd4(A[(min(k, p.K - 1u) * p.M + i0) / 4u]), k < p.K);
  }
  return mat4x4<f32>(c[0], c[1], c[2], c[3]);` }
    : { doc: "stored [M,K]: vec4 along k, rows of the block (matrix = A_blkᵀ)",
        load: `var r: array<vec4<f32>, 4>;
  for (var ii = 0u; ii < 4u; ii++) { r[ii] = rnd4(A[(min(i0 + ii, p.M - 1u) * p.K + k0) / 4u]); }
  return mat4x4<f32>(r[0], r[1], r[2], r[3]);` }
  const B = transB
    ? { doc: "stored [N,K]: vec4 along k, columns of the block (matrix = B_blk)",
        load: `var c: array<vec4<f32>, 4>;
  for (var jj = 0u; jj < 4u; jj++) { c[jj] = rnd4(B[(min(j0 + jj, p.N - 1u) * p.K + k0) / 4u]); }
  return mat4x4<f32>(c[0], c[1], c[2], c[3]);` }
    : { doc: "stored [K,N]: vec4 along j, rows of the block (matrix = B_blkᵀ)",
        load: `var r: array<vec4<f32>, 4>;
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    r[kk] = select(vec4<f32>(0.0), rnd4(B[(min(k, p.K - 1u) * p.N + j0) / 4u]), k < p.K);
  }
  return mat4x4<f32>(r[0], r[1], r[2], r[3]);` }
  // Cᵀ += Bᵀ·Aᵀ, from whichever of X / Xᵀ each load produced.
  const bt = transB ? "transpose(blockB(k0, j0))" : "blockB(k0, j0)"
  const at = transA ? "transpose(blockA(i0, k0))" : "blockA(i0, k0)"
  return { A_DOC: A.doc, LOAD_A: A.load, B_DOC: B.doc, LOAD_B: B.load, PRODUCT: `${bt} * ${at}` }
}

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
    EPILOGUE: epi.join("\n  "),
    ...(s.tile.kind === "vec4" ? vec4Loads(s.transA, s.transB) : {})
  })
}

export const matmulWorkgroups = (M: number, N: number, t: MatmulTile): readonly [number, number, number] => [
  Math.ceil(N / (t.tn * t.wx)),
  Math.ceil(M / (t.tm * t.wy)),
  1
]

export const matmul = (device: GPUDevice, spec: MatmulSpec, label = "matmul"): Effect.Effect<Dispatch, DeviceError> =>
  Effect.gen(function* () {
    const s = spec.tile.kind === "vec4" && !vec4Fits(spec) ? { ...spec, tile: registerTile } : spec
    const code = matmulCode({ ...s, bias: s.bias !== undefined, residual: s.residual !== undefined, gelu: s.gelu !== undefined })
    const pl = yield* pipeline(device, `matmul-${s.tile.kind}`, code, "main")
    const params = uniformBuffer(device, `${label}:params`, [{ u: s.M }, { u: s.N }, { u: s.K }, { u: 0 }])
    const res: Array<readonly [number, GPUBuffer | Slice]> = [[0, params], [1, s.a], [2, s.b], [3, s.c]]
    if (s.bias) res.push([4, s.bias])
    if (s.residual) res.push([5, s.residual])
    if (s.gelu) res.push([6, s.gelu.pre])
    return { label, pipeline: pl, bindGroup: bindGroup(device, pl, label, res), workgroups: matmulWorkgroups(s.M, s.N, s.tile) }
  })
