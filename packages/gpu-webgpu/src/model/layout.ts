/**
 * Where each tensor lives in the one flat parameter buffer (gradients and
 * Adam moments share the layout). Offsets are aligned to 256 bytes so that
 * each tensor can be bound on its own; weight matrices and embeddings come
 * first so that weight decay is "every element below decayEnd".
 */
import { gpt2TensorShapes, type Gpt2Shape } from "./weights.ts"

/** 256-byte binding-offset alignment, in floats. */
const ALIGN = 64

export interface TensorSlot {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly offset: number
  readonly size: number
}

export interface ParamLayout {
  readonly slots: ReadonlyMap<string, TensorSlot>
  /** Floats in the flat buffer, padding included. */
  readonly total: number
  /** Elements below this index get weight decay. */
  readonly decayEnd: number
}

export const paramLayout = (shape: Gpt2Shape): ParamLayout => {
  const all = gpt2TensorShapes(shape)
  const ordered = [...all.filter(([, s]) => s.length === 2), ...all.filter(([, s]) => s.length !== 2)]
  const slots = new Map<string, TensorSlot>()
  let at = 0
  let decayEnd = 0
  for (const [name, s] of ordered) {
    const size = s.reduce((a, b) => a * b, 1)
    slots.set(name, { name, shape: s, offset: at, size })
    at += Math.ceil(size / ALIGN) * ALIGN
    if (s.length === 2) decayEnd = at
  }
  return { slots, total: at, decayEnd }
}
