/**
 * The float64 GPT-2 forward pass, composed of the oracle ops (ops.ts): the
 * one oracle model. gpt2.ts evaluates checkpoints with it (log-probabilities,
 * code lengths); the gradient check differentiates its loss numerically.
 *
 * Architecture (Hugging Face GPT2LMHeadModel, dropout off):
 *   x_t = wte[tok_t] + wpe[t]
 *   per layer:  x += c_proj(attn(ln_1(x)));  x += mlp.c_proj(act(mlp.c_fc(ln_2(x))))
 *   logits_t = ln_f(x_t) · headᵀ      (head = wte when tied, else lm_head)
 * Attention is causal, heads split c_attn's output [q | k | v] into
 * contiguous d/heads slices, scores scaled by 1/√(d/heads). LayerNorm uses the
 * biased variance. Activation "gelu_new" is the tanh approximation, "gelu" the
 * exact erf form.
 */
import type { Gpt2Shape } from "../../src/model/weights.ts"
import * as ops from "./ops.ts"

/** A tensor by its Hugging Face name, in float64 (Conv1D layout: [in, out]). */
export type Tensors64 = (name: string) => Float64Array

/** Logits [B·T, V] of B sequences of T token ids (row-major). */
export const forwardLogits = (shape: Gpt2Shape, t: Tensors64, tokens: ArrayLike<number>, B: number, T: number): Float64Array => {
  const { dModel: d, heads: H, vocabSize: V, layerNormEps: eps } = shape
  const N = B * T
  const act = shape.activation === "gelu" ? ops.geluErf : ops.gelu
  let x = ops.embedding(tokens, t("wte.weight"), t("wpe.weight"), T, d)
  for (let l = 0; l < shape.layers; l++) {
    const p = (n: string) => t(`h.${l}.${n}`)
    const ln1 = ops.layerNorm(x, p("ln_1.weight"), p("ln_1.bias"), N, d, eps).y
    const qkv = ops.matmul(ln1, p("attn.c_attn.weight"), N, 3 * d, d, { bias: p("attn.c_attn.bias") })
    const att = ops.attention(qkv, B, T, d, H).out
    const proj = ops.matmul(att, p("attn.c_proj.weight"), N, d, d, { bias: p("attn.c_proj.bias") })
    const mid = x.map((v, i) => v + proj[i])
    const ln2 = ops.layerNorm(mid, p("ln_2.weight"), p("ln_2.bias"), N, d, eps).y
    const h = ops.matmul(ln2, p("mlp.c_fc.weight"), N, 4 * d, d, { bias: p("mlp.c_fc.bias") }).map(act)
    const out = ops.matmul(h, p("mlp.c_proj.weight"), N, d, 4 * d, { bias: p("mlp.c_proj.bias") })
    x = mid.map((v, i) => v + out[i])
  }
  const lnf = ops.layerNorm(x, t("ln_f.weight"), t("ln_f.bias"), N, d, eps).y
  return ops.matmul(lnf, t(shape.tiedHead ? "wte.weight" : "lm_head.weight"), N, V, d, { transB: true })
}

/** Mean next-token cross-entropy (nats) over the targets that are not NO_TARGET. */
export const forwardLoss = (shape: Gpt2Shape, t: Tensors64, tokens: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): number => {
  const N = B * T
  const ce = ops.softmaxCrossEntropy(forwardLogits(shape, t, tokens, B, T), targets, N, shape.vocabSize, 1)
  const predicted = Array.from(targets).filter((v) => v !== ops.NO_TARGET).length
  return ce.loss.reduce((a, b) => a + b, 0) / predicted
}
