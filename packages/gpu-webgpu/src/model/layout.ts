/**
 * Where each tensor lives in the one flat parameter buffer (gradients and
 * Adam moments share the layout). Offsets are aligned to 256 bytes so that
 * each tensor can be bound on its own; weight matrices and embeddings come
 * first so that weight decay is "every element below decayEnd".
 */
import { gpt2TensorShapes, type Gpt2Shape, type Gpt2Weights, type HostTensor } from "./weights.ts"

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

/**
 * The weights in one flat buffer of this layout (padding zero). With `bf16`
 * (bf16-params) every value is stored rounded to bfloat16, nearest even, as
 * the optimiser then keeps it.
 */
export const flattenWeights = (layout: ParamLayout, weights: Gpt2Weights, bf16: boolean): Float32Array => {
  const flat = new Float32Array(layout.total)
  for (const [name, slot] of layout.slots) flat.set(weights.tensors.get(name)!.data, slot.offset)
  if (bf16) {
    const u = new Uint32Array(flat.buffer)
    for (let i = 0; i < u.length; i++) {
      const x = u[i]
      if ((x & 0x7f800000) !== 0x7f800000) u[i] = ((x + 0x7fff + ((x >>> 16) & 1)) & 0xffff0000) >>> 0
    }
  }
  return flat
}

/** The tensors of a flat buffer of this layout, copied out. */
export const unflattenWeights = (layout: ParamLayout, shape: Gpt2Shape, flat: Float32Array): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [name, slot] of layout.slots) tensors.set(name, { shape: slot.shape, data: flat.slice(slot.offset, slot.offset + slot.size) })
  return { shape, tensors }
}
