/**
 * The CPU backend of the GPT-2 schedule: ops (schedule.ts) encoded as a
 * native program (native/addon.cc): records [opcode, argument count,
 * arguments…] in a Float64Array, tensors as addresses arena·2^50 + offset.
 * Every tensor range is checked against its arena here, so the native side
 * never reads outside memory it was given.
 */
import type { OperandRounding } from "../kernels/common.ts"
import type { Ref } from "../model/schedule.ts"
import type { StepOp } from "../model/step-schedule.ts"

const ARENA_STRIDE = 2 ** 50

/** Opcodes of native/addon.cc. */
export const opcodes = {
  embed: 1,
  embedBackward: 2,
  layerNorm: 3,
  layerNormBackwardInput: 4,
  layerNormBackwardParams: 5,
  matmul: 6,
  gelu: 7,
  geluBackward: 8,
  attention: 9,
  attentionBackward: 10,
  columnSum: 11,
  totalSum: 12,
  sequenceBits: 13,
  head: 14,
  adamw: 15,
  zero: 16,
  copy: 17,
  attentionStep: 18
} as const

/** Where a tensor lives: arena index, first float, length in floats. */
export interface Placement {
  readonly arena: number
  readonly offset: number
  readonly size: number
}

export type Placements = ReadonlyMap<string, Placement>

/** Lays tensors out one after another (64-byte aligned) in one arena. */
export const place = (arena: number, tensors: Iterable<readonly [string, number]>): { readonly placements: Map<string, Placement>; readonly total: number } => {
  const placements = new Map<string, Placement>()
  let at = 0
  for (const [name, size] of tensors) {
    placements.set(name, { arena, offset: at, size })
    at += Math.ceil(size / 16) * 16
  }
  return { placements, total: Math.max(at, 16) }
}

const rounds: Record<OperandRounding, number> = { none: 0, bf16: 1, fp16: 2 }

export interface EncodeContext {
  readonly placements: Placements
  readonly arenaSizes: ReadonlyArray<number>
  readonly rounding: OperandRounding
  /** Scratch tensor names: rounded matmul operands, the head's work area (needed only by programs with those ops). */
  readonly matmulScratch?: string
  readonly headWork?: string
}

/** Program builder over a placement. */
export const programBuilder = (cx: EncodeContext) => {
  const words: Array<number> = []
  const addr = (r: Ref | string | undefined, size?: number): number => {
    if (r === undefined) throw new Error("cpu program: an op needs a scratch tensor this program was given none of")
    const ref: Ref = typeof r === "string" ? { tensor: r, offset: 0, size: size ?? cx.placements.get(r)?.size ?? 0 } : r
    const p = cx.placements.get(ref.tensor)
    if (p === undefined) throw new Error(`cpu program: tensor ${ref.tensor} has no place`)
    if (ref.offset < 0 || ref.offset + ref.size > p.size || p.offset + p.size > cx.arenaSizes[p.arena])
      throw new Error(`cpu program: ${ref.tensor}[${ref.offset}, +${ref.size}) is outside its ${p.size} floats`)
    return p.arena * ARENA_STRIDE + p.offset + ref.offset
  }
  const opt = (r: Ref | undefined) => (r === undefined ? -1 : addr(r))
  const emit = (code: number, args: ReadonlyArray<number>): void => {
    words.push(code, args.length, ...args)
  }
  const r = rounds[cx.rounding]
  const b = (x: boolean | undefined) => (x ? 1 : 0)

  // Each case returns what emit returns (nothing): the switch reads as a table.
  const op = (o: StepOp) => {
    switch (o.op) {
      case "embed":
        return emit(opcodes.embed, [o.N, o.T, o.d, addr(o.tokens), addr(o.wte), addr(o.wpe), addr(o.x)])
      case "embedBackward":
        return emit(opcodes.embedBackward, [o.N, o.T, o.d, o.V, addr(o.dx), addr(o.rowStart), addr(o.rowIdx), addr(o.dwte), addr(o.dwpe)])
      case "layerNorm":
        return emit(opcodes.layerNorm, [o.rows, o.d, o.eps, addr(o.x), addr(o.g), addr(o.b), addr(o.y), addr(o.stats)])
      case "layerNormBackwardInput":
        return emit(opcodes.layerNormBackwardInput, [o.rows, o.d, addr(o.x), addr(o.g), addr(o.stats), addr(o.dy), addr(o.dx), b(o.accumulate)])
      case "layerNormBackwardParams":
        return emit(opcodes.layerNormBackwardParams, [o.rows, o.d, addr(o.x), addr(o.stats), addr(o.dy), addr(o.dg), addr(o.db)])
      case "matmul":
        return emit(opcodes.matmul, [
          o.M,
          o.N,
          o.K,
          b(o.transA),
          b(o.transB),
          b(o.accumulate),
          addr(o.a),
          addr(o.b),
          opt(o.bias),
          opt(o.residual),
          opt(o.gelu?.pre),
          addr(o.c),
          r,
          r === 0 ? -1 : addr(cx.matmulScratch, o.M * o.K + o.K * o.N)
        ])
      case "gelu":
        return emit(opcodes.gelu, [o.n, addr(o.x), addr(o.y)])
      case "geluBackward":
        return emit(opcodes.geluBackward, [o.n, addr(o.x), addr(o.dy), addr(o.dx)])
      case "attention":
        return emit(opcodes.attention, [o.B, o.T, o.d, o.H, r, addr(o.qkv), addr(o.out), addr(o.probs)])
      case "attentionBackward":
        return emit(opcodes.attentionBackward, [o.B, o.T, o.d, o.H, r, addr(o.qkv), addr(o.probs), addr(o.dout), addr(o.dscores), addr(o.dqkv)])
      case "columnSum":
        return emit(opcodes.columnSum, [o.rows, o.cols, addr(o.x), addr(o.out), b(o.accumulate)])
      case "totalSum":
        return emit(opcodes.totalSum, [o.n, addr(o.x), addr(o.out), b(o.square), b(o.accumulate)])
      case "sequenceBits":
        return emit(opcodes.sequenceBits, [o.sequences, o.T, addr(o.logp2), addr(o.bits)])
      case "attentionStep": {
        // The kernel indexes rows b < B and cache rows ≤ pos < T: the sizes must be those.
        const { B, T, d } = o
        if (!(o.pos >= 0 && o.pos < T) || o.qkv.size !== B * 3 * d || o.kCache.size !== B * T * d || o.vCache.size !== B * T * d || o.out.size !== B * d)
          throw new Error(`cpu program: attentionStep at position ${o.pos} of ${T} with tensors of the wrong sizes for ${B} rows of width ${d}`)
        return emit(opcodes.attentionStep, [B, T, o.pos, d, o.H, r, addr(o.qkv), addr(o.kCache), addr(o.vCache), addr(o.out)])
      }
      case "head":
        // Fused: the logits tensor is never used (the work area holds a chunk at a time).
        return emit(opcodes.head, [
          o.rows,
          o.V,
          o.d,
          addr(o.x),
          addr(o.w),
          addr(o.targets),
          addr(o.loss),
          addr(o.logp2),
          opt(o.grad?.dx),
          opt(o.grad?.dw),
          opt(o.grad?.scale),
          r,
          addr(cx.headWork)
        ])
    }
  }

  return {
    op,
    ops: (os: ReadonlyArray<StepOp>) => os.forEach(op),
    zero: (t: Ref) => emit(opcodes.zero, [addr(t), t.size]),
    copy: (from: Ref, to: Ref) => emit(opcodes.copy, [addr(from), addr(to), Math.min(from.size, to.size)]),
    adamw: (a: { n: number; decayEnd: number; params: Ref; grads: Ref; m: Ref; v: Ref; normSq: Ref; hyper: Ref; roundParams: boolean }) =>
      emit(opcodes.adamw, [a.n, a.decayEnd, addr(a.params), addr(a.grads), addr(a.m), addr(a.v), addr(a.normSq), addr(a.hyper), b(a.roundParams)]),
    build: () => Float64Array.from(words)
  }
}

/** Floats of rounded-operand scratch the matmuls of these ops need (0 without rounding). */
export const matmulScratchFloats = (ops: ReadonlyArray<StepOp>, rounding: OperandRounding): number =>
  rounding === "none" ? 0 : ops.reduce((m, o) => (o.op === "matmul" ? Math.max(m, o.M * o.K + o.K * o.N) : m), 0)
