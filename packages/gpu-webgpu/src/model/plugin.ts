/**
 * The `gpt2` model plugin: GPT-2 as in the paper (pre-LN blocks, causal
 * multi-head attention, GELU MLP of width 4d, learned positions with
 * n_positions = S, final LayerNorm, tied embeddings, no dropout). Vocabulary
 * and sequence length come from the data; `bos: true` adds a BOS token
 * (vocabulary V+1, n_positions S+1) so that the first token is predicted too.
 *
 *   model: { kind: gpt2, layers: 1, dModel: 32, heads: 2 }
 */
import { definePlugin, type ModelDescription, PositiveInt, type Problem, withDefault } from "@memorize/core"
import { Effect, Schema } from "effect"
import { totalmem } from "node:os"
import { gpt2ParamCount, type Gpt2Shape } from "./weights.ts"

export const Gpt2ModelConfig = Schema.Struct({
  layers: PositiveInt.annotate({ description: "transformer blocks L; the paper: 1, 2, 4, 8" }),
  dModel: PositiveInt.annotate({ description: "width d of the embeddings and the residual stream, divisible by heads; the paper: 32 to 512" }),
  heads: PositiveInt.annotate({ description: "attention heads, each of width dModel / heads (the paper does not state its count)" }),
  bos: withDefault(
    Schema.Boolean.annotate({ description: "prepend a BOS token (vocabulary V + 1, S + 1 positions) so that the first token is predicted too" }),
    false
  ),
  layerNormEps: withDefault(Schema.Finite.check(Schema.isGreaterThan(0)).annotate({ description: "LayerNorm ε (GPT-2's: 1e-5)" }), 1e-5)
}).check(
  Schema.makeFilter((c) => (c.dModel % c.heads === 0 ? undefined : { path: ["heads"], issue: `dModel ${c.dModel} must be divisible by heads ${c.heads}` }))
)
export type Gpt2ModelConfig = typeof Gpt2ModelConfig.Type

/** The model's shape for data of vocabulary V and sequences of S tokens. */
export const gpt2ShapeFor = (c: Gpt2ModelConfig, data: { readonly vocabSize: number; readonly seqLen: number }): Gpt2Shape => ({
  vocabSize: data.vocabSize + (c.bos ? 1 : 0),
  nPositions: data.seqLen + (c.bos ? 1 : 0),
  layers: c.layers,
  dModel: c.dModel,
  heads: c.heads,
  layerNormEps: c.layerNormEps,
  activation: "gelu_new",
  tiedHead: true
})

/**
 * Floats a model of this shape holds while training, beyond its activations:
 * parameters, gradients and the two Adam moments.
 */
const trainingFloats = (paramCount: number) => 4 * paramCount

/**
 * A model too large for this machine's memory is refused by `validate`,
 * naming its size, rather than failing at allocation after the data is built.
 */
const sizeCheck = (c: Gpt2ModelConfig, vocab: number | undefined, seqLen: number | undefined): ReadonlyArray<Problem> => {
  if (vocab === undefined || seqLen === undefined) return []
  const P = gpt2ParamCount(gpt2ShapeFor(c, { vocabSize: vocab, seqLen }))
  const bytes = trainingFloats(P) * 4
  const limit = totalmem()
  if (Number.isFinite(P) && bytes <= limit) return []
  return [
    {
      path: ["dModel"],
      message: `a GPT-2 with ${c.layers} layers, dModel ${c.dModel} and vocabulary ${vocab} has ${P.toExponential(3)} parameters: ${(bytes / 2 ** 30).toFixed(1)} GiB for weights, gradients and Adam moments, more than this machine's ${(limit / 2 ** 30).toFixed(1)} GiB`
    }
  ]
}

export const gpt2ModelPlugin = definePlugin({
  kind: "model",
  name: "gpt2",
  description: "GPT-2 (pre-LN, tied embeddings, learned positions with n_positions = S); P = V·d + S·d + L·(12d² + 13d) + 2d",
  config: Gpt2ModelConfig,
  check: (c, { run }) => Effect.succeed(sizeCheck(c, run.dataset.vocabSize, run.dataset.seqLen)),
  make:
    (c) =>
    (data): ModelDescription => ({
      kind: "gpt2",
      vocabSize: data.vocabSize,
      seqLen: data.seqLen,
      paramCount: gpt2ParamCount(gpt2ShapeFor(c, data)),
      config: { layers: c.layers, dModel: c.dModel, heads: c.heads, bos: c.bos, layerNormEps: c.layerNormEps }
    })
})
