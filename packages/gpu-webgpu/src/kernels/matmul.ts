/**
 * Matmul wrapper: C = op(A)·op(B) (+ bias) (+ residual) (+ C) (→ GELU), with
 * the tile shape as a specialization choice (register-tiled or shared-memory
 * tiled; see autotune.ts for how one is picked per adapter).
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { bindGroup, type Dispatch, fill, pipeline, type Slice, uniformBuffer } from "../device/gpu.ts"
import { enableFor, geluFns, type OperandRounding, roundFn, wgsl } from "./common.ts"
import { reduceSlices } from "./reduce.ts"

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
    ? {
        doc: "stored [K,M]: vec4 along i, columns of the block (matrix = A_blk)",
        load: `var c: array<vec4<f32>, 4>;
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    c[kk] = select(vec4<f32>(0.0), rnd4(A[(min(k, p.K - 1u) * p.M + i0) / 4u]), k < p.K);
  }
  return mat4x4<f32>(c[0], c[1], c[2], c[3]);`
      }
    : {
        doc: "stored [M,K]: vec4 along k, rows of the block (matrix = A_blkᵀ)",
        load: `var r: array<vec4<f32>, 4>;
  for (var ii = 0u; ii < 4u; ii++) { r[ii] = rnd4(A[(min(i0 + ii, p.M - 1u) * p.K + k0) / 4u]); }
  return mat4x4<f32>(r[0], r[1], r[2], r[3]);`
      }
  const B = transB
    ? {
        doc: "stored [N,K]: vec4 along k, columns of the block (matrix = B_blk)",
        load: `var c: array<vec4<f32>, 4>;
  for (var jj = 0u; jj < 4u; jj++) { c[jj] = rnd4(B[(min(j0 + jj, p.N - 1u) * p.K + k0) / 4u]); }
  return mat4x4<f32>(c[0], c[1], c[2], c[3]);`
      }
    : {
        doc: "stored [K,N]: vec4 along j, rows of the block (matrix = B_blkᵀ)",
        load: `var r: array<vec4<f32>, 4>;
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    r[kk] = select(vec4<f32>(0.0), rnd4(B[(min(k, p.K - 1u) * p.N + j0) / 4u]), k < p.K);
  }
  return mat4x4<f32>(r[0], r[1], r[2], r[3]);`
      }
  // Cᵀ += Bᵀ·Aᵀ, from whichever of X / Xᵀ each load produced.
  const bt = transB ? "transpose(blockB(k0, j0))" : "blockB(k0, j0)"
  const at = transA ? "transpose(blockA(i0, k0))" : "blockA(i0, k0)"
  return { A_DOC: A.doc, LOAD_A: A.load, B_DOC: B.doc, LOAD_B: B.load, PRODUCT: `${bt} * ${at}` }
}

export const matmulCode = (
  s: Omit<MatmulSpec, "a" | "b" | "c" | "bias" | "residual" | "gelu" | "M" | "N" | "K"> & {
    readonly bias: boolean
    readonly residual: boolean
    readonly gelu: boolean
  }
): string => {
  const epi: Array<string> = []
  if (s.bias) epi.push("v += bias[j];")
  if (s.residual) epi.push("v += R[idx];")
  if (s.accumulate) epi.push("v += C[cbase + idx];")
  if (s.gelu) epi.push("PRE[idx] = v;", "C[cbase + idx] = gelu(v);")
  else epi.push("C[cbase + idx] = v;")
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

const effectiveTile = (spec: MatmulSpec): MatmulSpec => (spec.tile.kind === "vec4" && !vec4Fits(spec) ? { ...spec, tile: registerTile } : spec)

/** One GEMM dispatch; with `splits` > 1, workgroup z computes K chunk z (`chunk` long) into C[z·M·N ..] (see matmulSplitK). */
const gemm = (
  device: GPUDevice,
  s: MatmulSpec,
  label: string,
  split?: { readonly chunk: number; readonly splits: number }
): Effect.Effect<Dispatch, DeviceError> =>
  Effect.gen(function* () {
    const code = matmulCode({ ...s, bias: s.bias !== undefined, residual: s.residual !== undefined, gelu: s.gelu !== undefined })
    const pl = yield* pipeline(device, `matmul-${s.tile.kind}`, code, "main")
    const params = uniformBuffer(device, `${label}:params`, [{ u: s.M }, { u: s.N }, { u: s.K }, { u: split?.chunk ?? Math.max(1, s.K) }])
    const res: Array<readonly [number, GPUBuffer | Slice]> = [
      [0, params],
      [1, s.a],
      [2, s.b],
      [3, s.c]
    ]
    if (s.bias) res.push([4, s.bias])
    if (s.residual) res.push([5, s.residual])
    if (s.gelu) res.push([6, s.gelu.pre])
    const [x, y] = matmulWorkgroups(s.M, s.N, s.tile)
    return {
      label,
      pipeline: pl,
      bindGroup: bindGroup(device, pl, label, res),
      workgroups: [x, y, split?.splits ?? 1],
      source: { code, entry: "main", resources: res }
    }
  })

export const matmul = (device: GPUDevice, spec: MatmulSpec, label = "matmul"): Effect.Effect<Dispatch, DeviceError> => gemm(device, effectiveTile(spec), label)

/** Split-K: a GEMM whose output tiles are too few to fill a large GPU and whose K is long gets its K cut into chunks. */
export interface SplitK {
  /** K per chunk (a multiple of 4: vec4 blocks never straddle two chunks). */
  readonly chunk: number
  readonly splits: number
}

/** Workgroups a GEMM should reach (about twice the 132 compute units of an H200). */
export const SPLITK_TARGET_WORKGROUPS = 264
/** Shortest K that is split, and shortest chunk. */
export const SPLITK_MIN_K = 256
export const SPLITK_MIN_CHUNK = 16
/** Most scratch floats the partial products may take (16 MiB). */
export const SPLITK_MAX_SCRATCH = 1 << 22

/**
 * The split of a GEMM, or undefined when it has tiles enough or K is short.
 * Depends only on the shape and tile, so a given adapter always sums in
 * the same order.
 */
export const splitKPlan = (s: { M: number; N: number; K: number; transA: boolean; transB: boolean; tile: MatmulTile }): SplitK | undefined => {
  const tile = s.tile.kind === "vec4" && !vec4Fits(s) ? registerTile : s.tile
  const [x, y] = matmulWorkgroups(s.M, s.N, tile)
  const tiles = x * y
  if (s.K < SPLITK_MIN_K || tiles >= SPLITK_TARGET_WORKGROUPS) return undefined
  const want = Math.min(Math.ceil(SPLITK_TARGET_WORKGROUPS / tiles), Math.floor(s.K / SPLITK_MIN_CHUNK), Math.floor(SPLITK_MAX_SCRATCH / (s.M * s.N)))
  if (want < 2) return undefined
  // Chunks rounded down to a multiple of 4 (so at least `want` of them), unless that overflows the scratch.
  const down = Math.max(SPLITK_MIN_CHUNK, Math.floor(s.K / want / 4) * 4)
  const chunk = Math.ceil(s.K / down) * s.M * s.N <= SPLITK_MAX_SCRATCH ? down : Math.ceil(s.K / want / 4) * 4
  const splits = Math.ceil(s.K / chunk)
  return splits < 2 ? undefined : { chunk, splits }
}

/**
 * A tile with the same kernel and fewer outputs per workgroup when the GEMM's
 * tiles are fewer than `target` (small N and short K: split-K does not pay):
 * rows per invocation halved down to 1, then columns; for vec4 blocks (4×4
 * fixed) the workgroup's rows halved down to 32 invocations. Each output's
 * K loop is unchanged, so the result is bit for bit that of `tile`.
 */
export const fillTile = (
  s: { M: number; N: number; K: number; transA: boolean; transB: boolean },
  tile: MatmulTile,
  target = SPLITK_TARGET_WORKGROUPS
): MatmulTile => {
  let t = tile.kind === "vec4" && !vec4Fits(s) ? registerTile : tile
  const tiles = (x: MatmulTile) => matmulWorkgroups(s.M, s.N, x)[0] * matmulWorkgroups(s.M, s.N, x)[1]
  while (tiles(t) < target) {
    if (t.kind !== "vec4" && t.tm > 1) t = { ...t, tm: t.tm / 2 }
    else if (t.kind !== "vec4" && t.tn > 1) t = { ...t, tn: t.tn / 2 }
    else if (t.kind === "vec4" && t.wx * t.wy > 32) t = { ...t, wy: t.wy / 2 }
    else break
  }
  return t
}

/**
 * C (+)= op(A)·op(B) split along K: partial products of the K chunks into
 * `scratch` (splits·M·N floats), then added chunk by chunk in a fixed order
 * (reduceSlices) into C. No bias, residual or GELU epilogue.
 */
export const matmulSplitK = (
  device: GPUDevice,
  spec: Omit<MatmulSpec, "bias" | "residual" | "gelu">,
  split: SplitK,
  scratch: Slice,
  label = "matmul"
): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
  Effect.all([
    gemm(device, effectiveTile({ ...spec, c: scratch, accumulate: false }), `${label}:split-k`, split),
    reduceSlices(
      device,
      { slices: split.splits, outputs: spec.M * spec.N, partials: scratch, out: spec.c, accumulate: spec.accumulate === true },
      `${label}:sum-k`
    )
  ])
