/**
 * One position of the GPT-2 forward for B rows, with every layer's keys and
 * values of the earlier positions kept in a cache: the incremental pass
 * behind `decoder` in evaluation.ts (arithmetic coding, generation). A step
 * costs one row per sequence where a full pass (schedule.ts) costs T.
 *
 * The ops are the full forward's (the same blocks, `blockForward`) on B rows,
 * except attention: `attentionStep` writes the position's keys and values
 * into the cache and attends over positions 0…pos. The embedding reads row
 * `pos` of the position table, so each position has its own op list.
 */
import type { ParamLayout } from "./layout.ts"
import { blockForward, type Op, paramRef, type Ref } from "./schedule.ts"
import type { Gpt2Shape } from "./weights.ts"

/**
 * Attention of position `pos` for B rows: k and v of `qkv` (B × 3d, q|k|v)
 * stored at row pos of each sequence's cache (B × T × d each), then causal
 * attention of q over cache rows 0…pos into `out` (B × d).
 */
export interface AttentionStepOp {
  readonly op: "attentionStep"
  readonly B: number
  readonly T: number
  readonly pos: number
  readonly d: number
  readonly H: number
  readonly qkv: Ref
  readonly kCache: Ref
  readonly vCache: Ref
  readonly out: Ref
}

export type StepOp = Op | AttentionStepOp

export interface StepSchedule {
  readonly B: number
  readonly T: number
  /** Tensors (name → floats), besides `params`; the caches persist from step to step. */
  readonly tensors: ReadonlyMap<string, number>
  /** The B tokens fed at a step. */
  readonly tokens: Ref
  /** The step's logits, B × V. */
  readonly logits: Ref
  /** The ops of model position `pos` (0 ≤ pos < T). */
  readonly ops: (pos: number) => ReadonlyArray<StepOp>
}

export interface StepScheduleInputs {
  readonly shape: Gpt2Shape
  readonly layout: ParamLayout
  readonly B: number
  /** Positions the caches hold (≤ n_positions). */
  readonly T: number
  readonly fuseGelu: boolean
}

export const gpt2StepSchedule = (inp: StepScheduleInputs): StepSchedule => {
  const { shape, layout, B, T } = inp
  const { dModel: d, vocabSize: V, heads: H, layers: L, layerNormEps: eps } = shape
  if (!(T >= 1 && T <= shape.nPositions)) throw new Error(`step schedule: ${T} positions, the model has ${shape.nPositions}`)
  const tensors = new Map<string, number>()
  const alloc = (name: string, n: number): Ref => {
    tensors.set(name, n)
    return { tensor: name, offset: 0, size: n }
  }
  const w = (name: string) => paramRef(layout, name)
  const tokens = alloc("tokens", B)
  const xs = Array.from({ length: L + 1 }, (_, l) => alloc(`x${l}`, B * d))
  const layers = Array.from({ length: L }, (_, l) => ({
    ln1: alloc(`ln1.${l}`, B * d),
    st1: alloc(`st1.${l}`, 2 * B),
    qkv: alloc(`qkv.${l}`, B * 3 * d),
    att: alloc(`att.${l}`, B * d),
    xmid: alloc(`xmid.${l}`, B * d),
    ln2: alloc(`ln2.${l}`, B * d),
    st2: alloc(`st2.${l}`, 2 * B),
    pre: alloc(`pre.${l}`, B * 4 * d),
    h: alloc(`h.${l}`, B * 4 * d),
    kCache: alloc(`k.${l}`, B * T * d),
    vCache: alloc(`v.${l}`, B * T * d)
  }))
  const lnf = alloc("lnf", B * d)
  const stf = alloc("stf", 2 * B)
  const logits = alloc("logits", B * V)
  const wpe = w("wpe.weight")

  const ops = (pos: number): ReadonlyArray<StepOp> => {
    if (!(Number.isInteger(pos) && pos >= 0 && pos < T)) throw new Error(`step schedule: position ${pos} outside 0…${T - 1}`)
    // The embedding adds row n mod T' of its table to row n; with T' = 1 and the table starting at row pos, every row gets row pos.
    const out: Array<StepOp> = [
      { op: "embed", N: B, T: 1, d, V, tokens, wte: w("wte.weight"), wpe: { ...wpe, offset: wpe.offset + pos * d, size: d }, x: xs[0] }
    ]
    for (let l = 0; l < L; l++) {
      const a = layers[l]
      out.push(
        ...blockForward<AttentionStepOp>(inp, l, B, xs[l], a, xs[l + 1], {
          op: "attentionStep",
          B,
          T,
          pos,
          d,
          H,
          qkv: a.qkv,
          kCache: a.kCache,
          vCache: a.vCache,
          out: a.att
        })
      )
    }
    out.push(
      { op: "layerNorm", rows: B, d, eps, x: xs[L], g: w("ln_f.weight"), b: w("ln_f.bias"), y: lnf, stats: stf },
      {
        op: "matmul",
        label: "lm-head",
        M: B,
        N: V,
        K: d,
        transA: false,
        transB: true,
        a: lnf,
        b: w(shape.tiedHead ? "wte.weight" : "lm_head.weight"),
        c: logits
      }
    )
    return out
  }
  return { B, T, tensors, tokens, logits, ops }
}
