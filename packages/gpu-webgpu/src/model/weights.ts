/**
 * The host-side representation of a GPT-2 model: its shape and its tensors
 * under Hugging Face GPT-2 names (without the `transformer.` prefix), in
 * Hugging Face layouts (Conv1D weights are [in, out]). This is the meeting
 * point of the GPU model (upload/download), checkpoints (safetensors) and the
 * float64 oracle (test/oracle/).
 *
 * Names and shapes (d = dModel, V = vocabSize, S = nPositions):
 *   wte.weight [V, d]            wpe.weight [S, d]
 *   h.{i}.ln_1.weight [d]        h.{i}.ln_1.bias [d]
 *   h.{i}.attn.c_attn.weight [d, 3d]   h.{i}.attn.c_attn.bias [3d]
 *   h.{i}.attn.c_proj.weight [d, d]    h.{i}.attn.c_proj.bias [d]
 *   h.{i}.ln_2.weight [d]        h.{i}.ln_2.bias [d]
 *   h.{i}.mlp.c_fc.weight [d, 4d]      h.{i}.mlp.c_fc.bias [4d]
 *   h.{i}.mlp.c_proj.weight [4d, d]    h.{i}.mlp.c_proj.bias [d]
 *   ln_f.weight [d]              ln_f.bias [d]
 *   lm_head.weight [V, d]        only when the head is not tied to wte
 */

export interface Gpt2Shape {
  readonly vocabSize: number
  /** n_positions: the learned position table's length (the data's S, + 1 with BOS). */
  readonly nPositions: number
  readonly layers: number
  readonly dModel: number
  readonly heads: number
  readonly layerNormEps: number
  /** "gelu_new" is GPT-2's tanh approximation; "gelu" the exact erf form. */
  readonly activation: "gelu_new" | "gelu"
  /** Output head tied to the input embedding (true for the paper's models). */
  readonly tiedHead: boolean
}

export interface HostTensor {
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

export interface Gpt2Weights {
  readonly shape: Gpt2Shape
  /** Tensor name (see above) → tensor. */
  readonly tensors: ReadonlyMap<string, HostTensor>
}

/** Every tensor name a model of this shape has, in a stable order, with its shape. */
export const gpt2TensorShapes = (s: Gpt2Shape): ReadonlyArray<readonly [string, ReadonlyArray<number>]> => {
  const d = s.dModel
  const out: Array<readonly [string, ReadonlyArray<number>]> = [
    ["wte.weight", [s.vocabSize, d]],
    ["wpe.weight", [s.nPositions, d]]
  ]
  for (let i = 0; i < s.layers; i++) {
    out.push(
      [`h.${i}.ln_1.weight`, [d]],
      [`h.${i}.ln_1.bias`, [d]],
      [`h.${i}.attn.c_attn.weight`, [d, 3 * d]],
      [`h.${i}.attn.c_attn.bias`, [3 * d]],
      [`h.${i}.attn.c_proj.weight`, [d, d]],
      [`h.${i}.attn.c_proj.bias`, [d]],
      [`h.${i}.ln_2.weight`, [d]],
      [`h.${i}.ln_2.bias`, [d]],
      [`h.${i}.mlp.c_fc.weight`, [d, 4 * d]],
      [`h.${i}.mlp.c_fc.bias`, [4 * d]],
      [`h.${i}.mlp.c_proj.weight`, [4 * d, d]],
      [`h.${i}.mlp.c_proj.bias`, [d]]
    )
  }
  out.push(["ln_f.weight", [d]], ["ln_f.bias", [d]])
  if (!s.tiedHead) out.push(["lm_head.weight", [s.vocabSize, d]])
  return out
}

/**
 * Parameter count, all embeddings counted, as in the paper (tied head):
 * P = V·d + S·d + L·(12d² + 13d) + 2d, plus V·d for an untied head.
 */
export const gpt2ParamCount = (s: Pick<Gpt2Shape, "vocabSize" | "nPositions" | "layers" | "dModel" | "tiedHead">): number => {
  const d = s.dModel
  return s.vocabSize * d + s.nPositions * d + s.layers * (12 * d * d + 13 * d) + 2 * d + (s.tiedHead ? 0 : s.vocabSize * d)
}
