/**
 * Schedule ops (schedule.ts) turned into prepared WebGPU dispatches, for
 * any op list: the full pass's plan (plan.ts) and the incremental pass
 * (step-plan.ts) compile their ops here, so both run the same kernels with
 * the same tiles for the same op.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import type { Dispatch, Slice } from "../device/gpu.ts"
import { attentionBackward, attentionForward } from "../kernels/attention.ts"
import type { OperandRounding } from "../kernels/common.ts"
import { embeddingBackward, embeddingBackwardScratch, embeddingForward } from "../kernels/embedding.ts"
import { geluBackward, geluForward } from "../kernels/gelu.ts"
import { layerNormBackwardInput, layerNormBackwardParams, layerNormForward, layerNormParamsScratch } from "../kernels/layernorm.ts"
import { fillTile, matmul, type MatmulSpec, matmulSplitK, type MatmulTile, splitKPlan } from "../kernels/matmul.ts"
import { columnSum, columnSumScratch, totalSum } from "../kernels/reduce.ts"
import { sequenceBits, softmaxCrossEntropy } from "../kernels/softmax-ce.ts"
import type { Op, Ref } from "./schedule.ts"

type GemmShape = { readonly M: number; readonly N: number; readonly K: number; readonly transA: boolean; readonly transB: boolean }

/** The head's gradient GEMMs (when it has a gradient): dW += dlogitsᵀ·x, dx = dlogits·W. */
const headGemms = (op: Extract<Op, { op: "head" }>): { readonly dw: GemmShape; readonly dx: GemmShape } => ({
  dw: { M: op.V, N: op.d, K: op.rows, transA: true, transB: false },
  dx: { M: op.rows, N: op.d, K: op.V, transA: false, transB: false }
})

/** Scratch floats of a GEMM split along K (0 when it is not split: it has an epilogue, enough tiles, or a short K). */
const splitScratch = (s: GemmShape, tile: MatmulTile, epilogue: boolean): number => {
  const split = epilogue ? undefined : splitKPlan({ ...s, tile })
  return split === undefined ? 0 : split.splits * s.M * s.N
}

/** Floats of shared scratch an op's WebGPU dispatches need (partial sums of two-pass reductions, split-K partial products). */
export const scratchFor = (op: Op, tile: MatmulTile): number => {
  switch (op.op) {
    case "columnSum":
      return columnSumScratch(op.rows, op.cols)
    case "layerNormBackwardParams":
      return layerNormParamsScratch(op.rows, op.d)
    case "embedBackward":
      return embeddingBackwardScratch(op)
    case "matmul":
      return splitScratch(op, tile, op.bias !== undefined || op.residual !== undefined || op.gelu !== undefined)
    case "head": {
      if (op.grad === undefined) return 0
      const g = headGemms(op)
      return Math.max(splitScratch(g.dw, tile, false), splitScratch(g.dx, tile, false))
    }
    default:
      return 0
  }
}

/** Where a compiled op's tensors live and how its GEMMs run. */
export interface CompileContext {
  readonly device: GPUDevice
  readonly rounding: OperandRounding
  readonly tile: MatmulTile
  /** The binding of a tensor region. */
  readonly slice: (r: Ref) => Slice
  /** The first `floats` of the scratch every op shares (dispatches run in order); it holds scratchFor of each op compiled. */
  readonly scratch: (floats: number) => Slice
  /** The partial sums of totalSum (REDUCE_GROUPS floats). */
  readonly partials: Slice
  /** Told the uniform of each training softmax (whose loss normaliser is set per step). */
  readonly scaled: (uniform: GPUBuffer) => void
}

/** The dispatches of one op, in order. */
export const compileOp = (cx: CompileContext, op: Op): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
  Effect.gen(function* () {
    const { device, rounding, tile, scratch } = cx
    const sl = cx.slice
    /** One GEMM dispatch, on a smaller tile where the tile's workgroups are too few (fillTile; same bits). */
    const single = (spec: MatmulSpec, label: string): Effect.Effect<Dispatch, DeviceError> =>
      matmul(device, { ...spec, tile: fillTile(spec, spec.tile) }, label)
    /** A GEMM without epilogue: split along K where its tiles are too few and K is long (splitKPlan), else one dispatch. */
    const gemm = (spec: Omit<MatmulSpec, "bias" | "residual" | "gelu">, label: string): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
      const split = splitKPlan(spec)
      return split === undefined
        ? Effect.map(single(spec, label), (d) => [d])
        : matmulSplitK(device, spec, split, scratch(split.splits * spec.M * spec.N), label)
    }
    switch (op.op) {
      case "embed":
        return [yield* embeddingForward(device, { ...op, tokens: sl(op.tokens), wte: sl(op.wte), wpe: sl(op.wpe), x: sl(op.x) })]
      case "embedBackward":
        return yield* embeddingBackward(device, {
          ...op,
          dx: sl(op.dx),
          rowStart: sl(op.rowStart),
          rowIdx: sl(op.rowIdx),
          dwte: sl(op.dwte),
          dwpe: sl(op.dwpe),
          partials: scratch(scratchFor(op, tile))
        })
      case "layerNorm":
        return [yield* layerNormForward(device, { ...op, x: sl(op.x), g: sl(op.g), b: sl(op.b), y: sl(op.y), stats: sl(op.stats) })]
      case "layerNormBackwardInput":
        return [yield* layerNormBackwardInput(device, { ...op, x: sl(op.x), g: sl(op.g), stats: sl(op.stats), dy: sl(op.dy), dx: sl(op.dx) })]
      case "layerNormBackwardParams":
        return yield* layerNormBackwardParams(device, {
          ...op,
          x: sl(op.x),
          stats: sl(op.stats),
          dy: sl(op.dy),
          dg: sl(op.dg),
          db: sl(op.db),
          partials: scratch(scratchFor(op, tile))
        })
      case "matmul":
        if (op.bias === undefined && op.residual === undefined && op.gelu === undefined) {
          return yield* gemm(
            {
              M: op.M,
              N: op.N,
              K: op.K,
              transA: op.transA,
              transB: op.transB,
              a: sl(op.a),
              b: sl(op.b),
              c: sl(op.c),
              ...(op.accumulate ? { accumulate: true } : {}),
              rounding,
              tile
            },
            op.label
          )
        }
        return [
          yield* single(
            {
              M: op.M,
              N: op.N,
              K: op.K,
              transA: op.transA,
              transB: op.transB,
              a: sl(op.a),
              b: sl(op.b),
              c: sl(op.c),
              ...(op.bias ? { bias: sl(op.bias) } : {}),
              ...(op.residual ? { residual: sl(op.residual) } : {}),
              ...(op.gelu ? { gelu: { pre: sl(op.gelu.pre) } } : {}),
              ...(op.accumulate ? { accumulate: true } : {}),
              rounding,
              tile
            },
            op.label
          )
        ]
      case "gelu":
        return [yield* geluForward(device, { n: op.n, x: sl(op.x), y: sl(op.y) })]
      case "geluBackward":
        return [yield* geluBackward(device, { n: op.n, x: sl(op.x), dy: sl(op.dy), dx: sl(op.dx) })]
      case "attention":
        return [yield* attentionForward(device, { ...op, rounding, qkv: sl(op.qkv), out: sl(op.out), probs: sl(op.probs) })]
      case "attentionBackward":
        return yield* attentionBackward(device, {
          ...op,
          rounding,
          qkv: sl(op.qkv),
          probs: sl(op.probs),
          dout: sl(op.dout),
          dscores: sl(op.dscores),
          dqkv: sl(op.dqkv)
        })
      case "columnSum":
        return yield* columnSum(device, { ...op, x: sl(op.x), out: sl(op.out), partials: scratch(scratchFor(op, tile)) })
      case "totalSum":
        return yield* totalSum(device, { ...op, x: sl(op.x), out: sl(op.out), partials: cx.partials })
      case "sequenceBits":
        return [yield* sequenceBits(device, { ...op, logp2: sl(op.logp2), bits: sl(op.bits) })]
      case "head": {
        // Not fused here: logits = x·Wᵀ, softmax-CE (gradient over the logits), then the two gradient GEMMs.
        const { rows: N, V, d } = op
        const logits = sl(op.logits)
        const out: Array<Dispatch> = [
          yield* single({ M: N, N: V, K: d, transA: false, transB: true, a: sl(op.x), b: sl(op.w), c: logits, rounding, tile }, "lm-head")
        ]
        const ce = yield* softmaxCrossEntropy(device, {
          rows: N,
          V,
          logits,
          targets: sl(op.targets),
          loss: sl(op.loss),
          logp2: sl(op.logp2),
          ...(op.grad ? { gradScale: 1 } : {})
        })
        out.push(ce)
        if (op.grad) {
          cx.scaled(ce.uniform!)
          const g = headGemms(op)
          out.push(
            ...(yield* gemm({ ...g.dw, a: logits, b: sl(op.x), c: sl(op.grad.dw), accumulate: true, rounding, tile }, "d-head")),
            ...(yield* gemm({ ...g.dx, a: logits, b: sl(op.w), c: sl(op.grad.dx), rounding, tile }, "d-lnf"))
          )
        }
        return out
      }
    }
  })
