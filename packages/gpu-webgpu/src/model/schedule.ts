/**
 * The GPT-2 schedule: the forward and backward order of kernel ops for a
 * micro-batch of B rows of T positions, as data. Both backends run exactly
 * this list: WebGPU turns each op into dispatches (plan.ts), the CPU backend
 * into a native program (cpu/program.ts). Tensors are named regions: the
 * flat `params` / `grads` buffers (ParamLayout) and the activations declared
 * here.
 */
import type { ParamLayout } from "./layout.ts"
import type { Gpt2Shape } from "./weights.ts"

/** A region of a named tensor, in floats (u32 tensors are 4-byte words too). */
export interface Ref {
  readonly tensor: string
  readonly offset: number
  readonly size: number
}

export type Op =
  | {
      readonly op: "embed"
      readonly N: number
      readonly T: number
      readonly d: number
      readonly V: number
      readonly tokens: Ref
      readonly wte: Ref
      readonly wpe: Ref
      readonly x: Ref
    }
  | {
      readonly op: "embedBackward"
      readonly N: number
      readonly T: number
      readonly d: number
      readonly V: number
      readonly dx: Ref
      readonly rowStart: Ref
      readonly rowIdx: Ref
      readonly dwte: Ref
      readonly dwpe: Ref
    }
  | {
      readonly op: "layerNorm"
      readonly rows: number
      readonly d: number
      readonly eps: number
      readonly x: Ref
      readonly g: Ref
      readonly b: Ref
      readonly y: Ref
      readonly stats: Ref
    }
  | {
      readonly op: "layerNormBackwardInput"
      readonly rows: number
      readonly d: number
      readonly x: Ref
      readonly g: Ref
      readonly stats: Ref
      readonly dy: Ref
      readonly dx: Ref
      readonly accumulate: boolean
    }
  | {
      readonly op: "layerNormBackwardParams"
      readonly rows: number
      readonly d: number
      readonly x: Ref
      readonly stats: Ref
      readonly dy: Ref
      readonly dg: Ref
      readonly db: Ref
    }
  | {
      readonly op: "matmul"
      readonly label: string
      readonly M: number
      readonly N: number
      readonly K: number
      readonly transA: boolean
      readonly transB: boolean
      readonly a: Ref
      readonly b: Ref
      readonly c: Ref
      readonly bias?: Ref
      readonly residual?: Ref
      readonly gelu?: { readonly pre: Ref }
      readonly accumulate?: boolean
    }
  | { readonly op: "gelu"; readonly n: number; readonly x: Ref; readonly y: Ref }
  | { readonly op: "geluBackward"; readonly n: number; readonly x: Ref; readonly dy: Ref; readonly dx: Ref }
  | {
      readonly op: "attention"
      readonly B: number
      readonly T: number
      readonly d: number
      readonly H: number
      readonly qkv: Ref
      readonly out: Ref
      readonly probs: Ref
    }
  | {
      readonly op: "attentionBackward"
      readonly B: number
      readonly T: number
      readonly d: number
      readonly H: number
      readonly qkv: Ref
      readonly probs: Ref
      readonly dout: Ref
      readonly dscores: Ref
      readonly dqkv: Ref
    }
  | { readonly op: "columnSum"; readonly rows: number; readonly cols: number; readonly x: Ref; readonly out: Ref; readonly accumulate: boolean }
  /** out[0] (+)= Σ x (Σ x² when square). */
  | { readonly op: "totalSum"; readonly n: number; readonly x: Ref; readonly out: Ref; readonly square: boolean; readonly accumulate: boolean }
  | { readonly op: "sequenceBits"; readonly sequences: number; readonly T: number; readonly logp2: Ref; readonly bits: Ref }
  /**
   * The LM head and softmax cross-entropy: logits = x·Wᵀ, loss (nats) and
   * log2 p of each row's target (rows without a target: 0). With `grad`:
   * dlogits = (softmax − onehot)·scale (scale: the loss normaliser, set per
   * step), dx = dlogits·W, dW += dlogitsᵀ·x. One op so that a backend may
   * fuse it (the CPU never holds all logits); `logits` is where a backend
   * that does not fuse keeps them.
   */
  | {
      readonly op: "head"
      readonly rows: number
      readonly V: number
      readonly d: number
      readonly x: Ref
      readonly w: Ref
      readonly targets: Ref
      readonly loss: Ref
      readonly logp2: Ref
      readonly logits: Ref
      readonly grad?: { readonly dx: Ref; readonly dw: Ref; readonly scale: Ref }
    }

export interface Schedule {
  readonly B: number
  readonly T: number
  /** Activation tensors (name → floats), besides `params` and `grads`. */
  readonly tensors: ReadonlyMap<string, number>
  readonly tokens: Ref
  readonly targets: Ref
  readonly rowStart: Ref
  readonly rowIdx: Ref
  /** Final LayerNorm output [B·T, d]: the head's input. */
  readonly lnf: Ref
  /** [B·T, V], written by `logits` (and by a non-fused head). */
  readonly logits: Ref
  readonly logp2: Ref
  readonly bits: Ref
  /** Σ loss (nats) of the micro-batches since it was last cleared. */
  readonly lossSum: Ref
  /** The loss normaliser of the training head (1 / predicted positions). */
  readonly gradScale: Ref
  /** Embedding to the final LayerNorm. */
  readonly forward: ReadonlyArray<Op>
  /** After forward: all logits (generation, arithmetic coding). */
  readonly logitsOps: ReadonlyArray<Op>
  /** After forward: loss, log2 p and per-sequence bits, without gradient. */
  readonly evaluate: ReadonlyArray<Op>
  /** After forward: loss with gradient, loss accumulation, backward into `grads`. */
  readonly backward: ReadonlyArray<Op>
}

export interface ScheduleInputs {
  readonly shape: Gpt2Shape
  readonly layout: ParamLayout
  readonly B: number
  /** Positions per row (≤ n_positions). */
  readonly T: number
  /** Bias+GELU in the fc matmul's epilogue (else a separate GELU op). */
  readonly fuseGelu: boolean
}

const mm = (label: string, s: Omit<Extract<Op, { op: "matmul" }>, "op" | "label">): Op => ({ op: "matmul", label, ...s })

export const gpt2Schedule = (inp: ScheduleInputs): Schedule => {
  const { shape, layout, B, T: S } = inp
  const d = shape.dModel
  const V = shape.vocabSize
  const H = shape.heads
  const L = shape.layers
  const N = B * S
  const eps = shape.layerNormEps
  const tensors = new Map<string, number>()
  const alloc = (name: string, n: number): Ref => {
    tensors.set(name, n)
    return { tensor: name, offset: 0, size: n }
  }
  const slot = (tensor: string, name: string): Ref => {
    const s = layout.slots.get(name)
    if (s === undefined) throw new Error(`no tensor ${name} in the layout`)
    return { tensor, offset: s.offset, size: s.size }
  }
  const w = (name: string) => slot("params", name)
  const g = (name: string) => slot("grads", name)
  // Only the first T rows of the position table are used (an imported model may have more).
  const wpe: Ref = { ...w("wpe.weight"), size: S * d }
  const dwpe: Ref = { ...g("wpe.weight"), size: S * d }
  const head = shape.tiedHead ? "wte.weight" : "lm_head.weight"

  const tokens = alloc("tokens", N)
  const targets = alloc("targets", N)
  const rowStart = alloc("rowStart", V + 1)
  const rowIdx = alloc("rowIdx", N)
  const xs = Array.from({ length: L + 1 }, (_, l) => alloc(`x${l}`, N * d))
  const layers = Array.from({ length: L }, (_, l) => ({
    ln1: alloc(`ln1.${l}`, N * d),
    st1: alloc(`st1.${l}`, 2 * N),
    qkv: alloc(`qkv.${l}`, N * 3 * d),
    att: alloc(`att.${l}`, N * d),
    probs: alloc(`P.${l}`, B * H * S * S),
    xmid: alloc(`xmid.${l}`, N * d),
    ln2: alloc(`ln2.${l}`, N * d),
    st2: alloc(`st2.${l}`, 2 * N),
    pre: alloc(`pre.${l}`, N * 4 * d),
    h: alloc(`h.${l}`, N * 4 * d)
  }))
  const lnf = alloc("lnf", N * d)
  const stf = alloc("stf", 2 * N)
  const logits = alloc("logits", N * V)
  const loss = alloc("loss", N)
  const logp2 = alloc("logp2", N)
  const bits = alloc("bits", B)
  const lossSum = alloc("lossSum", 1)
  const gradScale = alloc("gradScale", 1)
  // Backward scratch, shared by all layers (dres is the residual-stream gradient, updated in place).
  const dres = alloc("dres", N * d)
  const dln = alloc("dln", N * d)
  const d4 = alloc("d4", N * 4 * d)
  const dpre = alloc("dpre", N * 4 * d)
  const datt = alloc("datt", N * d)
  const dqkv = alloc("dqkv", N * 3 * d)
  const dscores = alloc("dS", B * H * S * S)

  const forward: Array<Op> = [{ op: "embed", N, T: S, d, V, tokens, wte: w("wte.weight"), wpe, x: xs[0] }]
  for (let l = 0; l < L; l++) {
    const a = layers[l]
    forward.push(...blockForward<Op>(inp, l, N, xs[l], a, xs[l + 1], { op: "attention", B, T: S, d, H, qkv: a.qkv, out: a.att, probs: a.probs }))
  }
  forward.push({ op: "layerNorm", rows: N, d, eps, x: xs[L], g: w("ln_f.weight"), b: w("ln_f.bias"), y: lnf, stats: stf })

  const logitsOps: Array<Op> = [mm("lm-head", { M: N, N: V, K: d, transA: false, transB: true, a: lnf, b: w(head), c: logits })]
  const headOp = { op: "head", rows: N, V, d, x: lnf, w: w(head), targets, loss, logp2, logits } as const
  const evaluate: Array<Op> = [headOp, { op: "sequenceBits", sequences: B, T: S, logp2, bits }]

  const backward: Array<Op> = [
    { ...headOp, grad: { dx: dln, dw: g(head), scale: gradScale } },
    { op: "totalSum", n: N, x: loss, out: lossSum, square: false, accumulate: true },
    { op: "layerNormBackwardInput", rows: N, d, x: xs[L], g: w("ln_f.weight"), stats: stf, dy: dln, dx: dres, accumulate: false },
    { op: "layerNormBackwardParams", rows: N, d, x: xs[L], stats: stf, dy: dln, dg: g("ln_f.weight"), db: g("ln_f.bias") }
  ]
  for (let l = L - 1; l >= 0; l--) {
    const a = layers[l]
    const p = `h.${l}.`
    backward.push(
      // MLP: x_{l+1} = xmid + h·W2 + b2, h = gelu(pre), pre = ln2·W1 + b1
      mm("d-h", { M: N, N: 4 * d, K: d, transA: false, transB: true, a: dres, b: w(p + "mlp.c_proj.weight"), c: d4 }),
      mm("d-W2", { M: 4 * d, N: d, K: N, transA: true, transB: false, a: a.h, b: dres, c: g(p + "mlp.c_proj.weight"), accumulate: true }),
      { op: "columnSum", rows: N, cols: d, x: dres, out: g(p + "mlp.c_proj.bias"), accumulate: true },
      { op: "geluBackward", n: N * 4 * d, x: a.pre, dy: d4, dx: dpre },
      mm("d-ln2", { M: N, N: d, K: 4 * d, transA: false, transB: true, a: dpre, b: w(p + "mlp.c_fc.weight"), c: dln }),
      mm("d-W1", { M: d, N: 4 * d, K: N, transA: true, transB: false, a: a.ln2, b: dpre, c: g(p + "mlp.c_fc.weight"), accumulate: true }),
      { op: "columnSum", rows: N, cols: 4 * d, x: dpre, out: g(p + "mlp.c_fc.bias"), accumulate: true },
      { op: "layerNormBackwardInput", rows: N, d, x: a.xmid, g: w(p + "ln_2.weight"), stats: a.st2, dy: dln, dx: dres, accumulate: true },
      { op: "layerNormBackwardParams", rows: N, d, x: a.xmid, stats: a.st2, dy: dln, dg: g(p + "ln_2.weight"), db: g(p + "ln_2.bias") },
      // Attention: xmid = x_l + att·Wp + bp, att = attn(qkv), qkv = ln1·Wa + ba
      mm("d-att", { M: N, N: d, K: d, transA: false, transB: true, a: dres, b: w(p + "attn.c_proj.weight"), c: datt }),
      mm("d-Wp", { M: d, N: d, K: N, transA: true, transB: false, a: a.att, b: dres, c: g(p + "attn.c_proj.weight"), accumulate: true }),
      { op: "columnSum", rows: N, cols: d, x: dres, out: g(p + "attn.c_proj.bias"), accumulate: true },
      { op: "attentionBackward", B, T: S, d, H, qkv: a.qkv, probs: a.probs, dout: datt, dscores, dqkv },
      mm("d-ln1", { M: N, N: d, K: 3 * d, transA: false, transB: true, a: dqkv, b: w(p + "attn.c_attn.weight"), c: dln }),
      mm("d-Wa", { M: d, N: 3 * d, K: N, transA: true, transB: false, a: a.ln1, b: dqkv, c: g(p + "attn.c_attn.weight"), accumulate: true }),
      { op: "columnSum", rows: N, cols: 3 * d, x: dqkv, out: g(p + "attn.c_attn.bias"), accumulate: true },
      { op: "layerNormBackwardInput", rows: N, d, x: xs[l], g: w(p + "ln_1.weight"), stats: a.st1, dy: dln, dx: dres, accumulate: true },
      { op: "layerNormBackwardParams", rows: N, d, x: xs[l], stats: a.st1, dy: dln, dg: g(p + "ln_1.weight"), db: g(p + "ln_1.bias") }
    )
  }
  backward.push({ op: "embedBackward", N, T: S, d, V, dx: dres, rowStart, rowIdx, dwte: g("wte.weight"), dwpe })

  return { B, T: S, tensors, tokens, targets, rowStart, rowIdx, lnf, logits, logp2, bits, lossSum, gradScale, forward, logitsOps, evaluate, backward }
}

/** A block's activations for N rows (schedule.ts allocates them per layer; a step, step-schedule.ts, for its B rows). */
export interface BlockActivations {
  readonly ln1: Ref
  readonly st1: Ref
  readonly qkv: Ref
  readonly att: Ref
  readonly xmid: Ref
  readonly ln2: Ref
  readonly st2: Ref
  readonly pre: Ref
  readonly h: Ref
}

/** A named parameter tensor of the flat `params` buffer, as a Ref. */
export const paramRef = (layout: ParamLayout, name: string): Ref => {
  const s = layout.slots.get(name)
  if (s === undefined) throw new Error(`no tensor ${name} in the layout`)
  return { tensor: "params", offset: s.offset, size: s.size }
}

/**
 * Transformer block `l` on N rows, x → y: LayerNorm, qkv projection, the
 * given attention op (reading a.qkv, writing a.att), output projection onto
 * the residual, LayerNorm, MLP onto the residual. The full forward and the
 * incremental step (step-schedule.ts) share it, so they run the same kernels.
 */
export const blockForward = <A>(
  inp: Pick<ScheduleInputs, "shape" | "layout" | "fuseGelu">,
  l: number,
  N: number,
  x: Ref,
  a: BlockActivations,
  y: Ref,
  attention: A
): Array<Op | A> => {
  const d = inp.shape.dModel
  const eps = inp.shape.layerNormEps
  const p = `h.${l}.`
  const w = (name: string) => paramRef(inp.layout, p + name)
  return [
    { op: "layerNorm", rows: N, d, eps, x, g: w("ln_1.weight"), b: w("ln_1.bias"), y: a.ln1, stats: a.st1 },
    mm("qkv", { M: N, N: 3 * d, K: d, transA: false, transB: false, a: a.ln1, b: w("attn.c_attn.weight"), bias: w("attn.c_attn.bias"), c: a.qkv }),
    attention,
    mm("attn-proj", {
      M: N,
      N: d,
      K: d,
      transA: false,
      transB: false,
      a: a.att,
      b: w("attn.c_proj.weight"),
      bias: w("attn.c_proj.bias"),
      residual: x,
      c: a.xmid
    }),
    { op: "layerNorm", rows: N, d, eps, x: a.xmid, g: w("ln_2.weight"), b: w("ln_2.bias"), y: a.ln2, stats: a.st2 },
    ...(inp.fuseGelu
      ? [
          mm("fc", {
            M: N,
            N: 4 * d,
            K: d,
            transA: false,
            transB: false,
            a: a.ln2,
            b: w("mlp.c_fc.weight"),
            bias: w("mlp.c_fc.bias"),
            gelu: { pre: a.pre },
            c: a.h
          })
        ]
      : [
          mm("fc", { M: N, N: 4 * d, K: d, transA: false, transB: false, a: a.ln2, b: w("mlp.c_fc.weight"), bias: w("mlp.c_fc.bias"), c: a.pre }),
          { op: "gelu", n: N * 4 * d, x: a.pre, y: a.h } as const
        ]),
    mm("mlp-proj", {
      M: N,
      N: d,
      K: 4 * d,
      transA: false,
      transB: false,
      a: a.h,
      b: w("mlp.c_proj.weight"),
      bias: w("mlp.c_proj.bias"),
      residual: a.xmid,
      c: y
    })
  ]
}

/**
 * The tensors an op list reads or writes (to allocate only what a backend
 * runs). A backend that fuses the head never touches its `logits`.
 */
export const tensorsOf = (ops: ReadonlyArray<Op>, options: { readonly fusedHead: boolean }): ReadonlySet<string> => {
  const out = new Set<string>()
  const visit = (v: unknown): void => {
    if (typeof v !== "object" || v === null) return
    if ("tensor" in v && typeof (v as Ref).tensor === "string") out.add((v as Ref).tensor)
    else for (const x of Object.values(v)) visit(x)
  }
  for (const o of ops) visit(options.fusedHead && o.op === "head" ? { ...o, logits: undefined } : o)
  return out
}
