/**
 * Checks and helpers every metric shares: model/dataset compatibility (typed
 * MetricErrors that say what differs), code lengths with their shape checked,
 * and subsets of token sequences.
 */
import { Effect } from "effect"
import { MetricError, type Dataset, type ModelError, type TokenSequences, type TrainedModel } from "@memorize/core"

/**
 * A model can score a dataset when it predicts the same vocabulary and its
 * context covers the dataset's sequences. `role` names the model in messages.
 */
export const checkCompatible = (metric: string, model: TrainedModel, dataset: Dataset, role: "model" | "reference model"): Effect.Effect<void, MetricError> => {
  if (model.vocabSize !== dataset.vocabSize) {
    const hint = role === "reference model" ? " (a reference model with another tokenizer cannot score this data)" : ""
    return Effect.fail(
      new MetricError({
        metric,
        message: `${role} has vocabulary size ${model.vocabSize} but dataset "${dataset.kind}" has ${dataset.vocabSize}${hint}`
      })
    )
  }
  if (model.seqLen < dataset.seqLen) {
    return Effect.fail(
      new MetricError({
        metric,
        message: `${role} has context length ${model.seqLen} but dataset "${dataset.kind}" has sequences of ${dataset.seqLen} tokens`
      })
    )
  }
  // Same vocabulary size is necessary, not sufficient: compare tokenizer names when both sides state one.
  const modelTokenizer = model.description.config["tokenizer"]
  if (typeof modelTokenizer === "string" && dataset.tokenizer !== undefined && modelTokenizer !== dataset.tokenizer.name) {
    return Effect.fail(
      new MetricError({
        metric,
        message: `${role} was trained with tokenizer "${modelTokenizer}" but dataset "${dataset.kind}" uses "${dataset.tokenizer.name}"`
      })
    )
  }
  return Effect.void
}

/** Code lengths with their count and finiteness checked (a broken model is named, not averaged into NaN). */
export const codeLengthsOf = (metric: string, model: TrainedModel, seqs: TokenSequences, role: string): Effect.Effect<Float64Array, MetricError | ModelError> =>
  Effect.flatMap(model.codeLengths(seqs), (lengths) => {
    if (lengths.length !== seqs.count) {
      return Effect.fail(new MetricError({ metric, message: `${role} returned ${lengths.length} code lengths for ${seqs.count} sequences` }))
    }
    for (let i = 0; i < lengths.length; i++) {
      if (!Number.isFinite(lengths[i]) || lengths[i] < 0) {
        return Effect.fail(new MetricError({ metric, message: `${role} returned code length ${lengths[i]} for sequence ${i} (expected a finite number ≥ 0)` }))
      }
    }
    return Effect.succeed(lengths)
  })

/** The sequences at `indices`, in that order. */
export const subset = (seqs: TokenSequences, indices: ArrayLike<number>): TokenSequences => {
  const s = seqs.seqLen
  const tokens = new Uint32Array(indices.length * s)
  for (let i = 0; i < indices.length; i++) tokens.set(seqs.tokens.subarray(indices[i] * s, indices[i] * s + s), i * s)
  return { vocabSize: seqs.vocabSize, seqLen: s, count: indices.length, tokens }
}

/** The first `n` tokens of every sequence (prefixes for generation). */
export const prefixes = (seqs: TokenSequences, n: number): TokenSequences => {
  const tokens = new Uint32Array(seqs.count * n)
  for (let i = 0; i < seqs.count; i++) tokens.set(seqs.tokens.subarray(i * seqs.seqLen, i * seqs.seqLen + n), i * n)
  return { vocabSize: seqs.vocabSize, seqLen: n, count: seqs.count, tokens }
}

/** A short description of a model for metric output. */
export const describeModel = (m: TrainedModel) => ({ kind: m.description.kind, paramCount: m.paramCount, precision: m.precision })
