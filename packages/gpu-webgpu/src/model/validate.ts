/** Whether a set of weights is a GPT-2 the backends can run, or what is wrong with it (naming the tensor). */
import { ModelError } from "@memorize/core"
import { paramLayout } from "./layout.ts"
import type { Gpt2Weights } from "./weights.ts"

export const validateWeights = (w: Gpt2Weights): ModelError | undefined => {
  const s = w.shape
  if (s.activation !== "gelu_new") return new ModelError({ message: `activation "${s.activation}" is not supported (only gelu_new, GPT-2's)` })
  if (s.dModel % s.heads !== 0) return new ModelError({ message: `dModel ${s.dModel} is not divisible by heads ${s.heads}` })
  const layout = paramLayout(s)
  for (const [name, slot] of layout.slots) {
    const t = w.tensors.get(name)
    if (t === undefined) return new ModelError({ message: `missing tensor ${name}`, tensor: name })
    if (t.data.length !== slot.size || t.shape.join(",") !== slot.shape.join(","))
      return new ModelError({ message: `tensor ${name} has shape [${t.shape.join(", ")}], expected [${slot.shape.join(", ")}]`, tensor: name })
  }
  return undefined
}
