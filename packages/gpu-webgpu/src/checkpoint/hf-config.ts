/**
 * Hugging Face GPT-2 `config.json`: writing it as `transformers` does for a
 * `GPT2LMHeadModel` (sorted keys, 2-space indent), and reading the fields that
 * decide the architecture, refusing what this project's GPT-2 cannot run.
 */
import { Effect, Schema } from "effect"
import { ModelError } from "@memorize/core"
import type { Gpt2Shape } from "../model/weights.ts"

/**
 * The config `GPT2Config(...).save_pretrained` writes, for our shape. Dropout
 * is off (the project trains without it); the last vocabulary id stands for
 * BOS/EOS as in GPT-2 (50256 for the real vocabulary), which keeps the ids
 * inside small synthetic vocabularies.
 */
export const gpt2ConfigJson = (shape: Gpt2Shape): Record<string, unknown> => {
  const config: Record<string, unknown> = {
    activation_function: shape.activation,
    architectures: ["GPT2LMHeadModel"],
    attn_pdrop: 0.0,
    bos_token_id: shape.vocabSize - 1,
    embd_pdrop: 0.0,
    eos_token_id: shape.vocabSize - 1,
    initializer_range: 0.02,
    layer_norm_epsilon: shape.layerNormEps,
    model_type: "gpt2",
    n_ctx: shape.nPositions,
    n_embd: shape.dModel,
    n_head: shape.heads,
    n_inner: null,
    n_layer: shape.layers,
    n_positions: shape.nPositions,
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.0,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: "cls_index",
    summary_use_proj: true,
    tie_word_embeddings: shape.tiedHead,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: shape.vocabSize
  }
  return config
}

/** `json.dumps(config, indent=2, sort_keys=True) + "\n"`, as transformers writes it. */
export const gpt2ConfigText = (shape: Gpt2Shape): string => {
  const config = gpt2ConfigJson(shape)
  const sorted = Object.fromEntries(
    Object.keys(config)
      .sort()
      .map((k) => [k, config[k]])
  )
  return JSON.stringify(sorted, null, 2) + "\n"
}

const Pos = Schema.Int.check(Schema.isGreaterThan(0))

/** The fields read from a config.json; everything else in the file is ignored. */
export const Gpt2ConfigFile = Schema.Struct({
  model_type: Schema.optionalKey(Schema.String),
  vocab_size: Pos,
  n_positions: Pos,
  n_embd: Pos,
  n_layer: Pos,
  n_head: Pos,
  n_inner: Schema.optionalKey(Schema.NullOr(Pos)),
  layer_norm_epsilon: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  activation_function: Schema.optionalKey(Schema.String),
  tie_word_embeddings: Schema.optionalKey(Schema.Boolean),
  scale_attn_weights: Schema.optionalKey(Schema.Boolean),
  scale_attn_by_inverse_layer_idx: Schema.optionalKey(Schema.Boolean)
})
export type Gpt2ConfigFile = typeof Gpt2ConfigFile.Type

/** Activation names transformers accepts that are GPT-2's tanh GELU or the exact one. */
const ACTIVATIONS: Record<string, Gpt2Shape["activation"]> = {
  gelu_new: "gelu_new",
  gelu_pytorch_tanh: "gelu_new",
  gelu_fast: "gelu_new",
  gelu: "gelu"
}

/**
 * Parses a config.json's text into a shape. `tiedHead` here is what the config
 * asks for (default true, as in transformers); the loader reconciles it with
 * the tensors.
 */
export const parseGpt2Config = (file: string, text: string): Effect.Effect<Gpt2Shape, ModelError> =>
  Effect.gen(function* () {
    const bad = (message: string) => new ModelError({ message: `config.json: ${message}`, file })
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (e) {
      return yield* Effect.fail(bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`))
    }
    const c = yield* Schema.decodeUnknownEffect(Gpt2ConfigFile)(json).pipe(Effect.mapError((e) => bad(e.message)))
    if (c.model_type !== undefined && c.model_type !== "gpt2") return yield* Effect.fail(bad(`model_type is ${c.model_type}, not gpt2`))
    if (c.n_embd % c.n_head !== 0) return yield* Effect.fail(bad(`n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`))
    if (c.n_inner != null && c.n_inner !== 4 * c.n_embd) {
      return yield* Effect.fail(bad(`n_inner ${c.n_inner} is not 4·n_embd = ${4 * c.n_embd} (the only MLP width supported)`))
    }
    if (c.scale_attn_weights === false) return yield* Effect.fail(bad("scale_attn_weights false is not supported"))
    if (c.scale_attn_by_inverse_layer_idx === true) return yield* Effect.fail(bad("scale_attn_by_inverse_layer_idx true is not supported"))
    const actName = c.activation_function ?? "gelu_new"
    const activation = ACTIVATIONS[actName]
    if (activation === undefined) {
      return yield* Effect.fail(bad(`activation_function ${actName} is not supported (use one of ${Object.keys(ACTIVATIONS).join(", ")})`))
    }
    return {
      vocabSize: c.vocab_size,
      nPositions: c.n_positions,
      layers: c.n_layer,
      dModel: c.n_embd,
      heads: c.n_head,
      layerNormEps: c.layer_norm_epsilon ?? 1e-5,
      activation,
      tiedHead: c.tie_word_embeddings ?? true
    } satisfies Gpt2Shape
  })
