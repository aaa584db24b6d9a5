/**
 * Everything eval does before any model runs: checkpoints loaded and checked
 * (finite weights, matching vocabularies), token files read against the
 * model's limits. A bad input fails here, before a GPU is started.
 */
import { type DatasetError, ModelError } from "@memorize/core"
import { type Gpt2Weights, loadCheckpoint } from "@memorize/gpu-webgpu"
import { Effect } from "effect"
import * as nodePath from "node:path"
import type { EvalOptions } from "./options.ts"
import { type Limits, readEvalTokens, type TokenFile } from "./tokens.ts"

/** Checkpoints loaded and token files read and checked: everything that needs no GPU. */
export interface PreparedEval {
  readonly modelPath: string
  readonly model: Gpt2Weights
  readonly refPath?: string
  readonly reference?: Gpt2Weights
  readonly dataVocab: number
  readonly members: TokenFile
  readonly holdout?: TokenFile
}

/**
 * Refuses a checkpoint with a NaN or ±Inf weight, naming the tensor and the
 * element: evaluating it would print `"bits": null` everywhere and exit 0.
 */
const requireFiniteWeights = (weights: Gpt2Weights, file: string): Effect.Effect<void, ModelError> => {
  for (const [name, tensor] of weights.tensors) {
    const data = tensor.data
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        return Effect.fail(
          new ModelError({
            message: `tensor ${name} holds ${data[i]} at element ${i}: a checkpoint with non-finite weights cannot be evaluated`,
            file,
            tensor: name
          })
        )
      }
    }
  }
  return Effect.void
}

/** Loads the checkpoints and reads the token files, failing on the first bad input (before any GPU work). */
export const prepareEval = (options: EvalOptions): Effect.Effect<PreparedEval, ModelError | DatasetError> =>
  Effect.gen(function* () {
    const lead = options.bos ? 1 : 0
    const modelPath = nodePath.resolve(options.model)
    const model = yield* loadCheckpoint(modelPath)
    yield* requireFiniteWeights(model, modelPath)
    const refPath = options.reference === undefined ? undefined : nodePath.resolve(options.reference)
    const reference = refPath === undefined ? undefined : yield* loadCheckpoint(refPath)
    if (reference !== undefined) yield* requireFiniteWeights(reference, refPath!)
    const dataVocab = model.shape.vocabSize - lead
    if (dataVocab < 2) {
      return yield* new ModelError({
        message: `vocab_size ${model.shape.vocabSize} leaves ${dataVocab} data tokens${lead ? " after BOS" : ""}; at least 2 are needed`,
        file: modelPath
      })
    }
    if (reference !== undefined && reference.shape.vocabSize !== model.shape.vocabSize) {
      return yield* new ModelError({
        message: `the reference's vocab_size ${reference.shape.vocabSize} differs from the model's ${model.shape.vocabSize}: code lengths over different vocabularies are not comparable`,
        file: refPath!,
        tensor: "transformer.wte.weight"
      })
    }
    const bosNote = lead ? " (one position goes to BOS)" : ""
    const limits: Limits =
      reference !== undefined && reference.shape.nPositions < model.shape.nPositions
        ? {
            vocab: dataVocab,
            maxLen: reference.shape.nPositions - lead,
            maxLenWhy: `the reference model's n_positions = ${reference.shape.nPositions}${bosNote}`
          }
        : { vocab: dataVocab, maxLen: model.shape.nPositions - lead, maxLenWhy: `the model's n_positions = ${model.shape.nPositions}${bosNote}` }
    const members = yield* readEvalTokens(nodePath.resolve(options.tokens), limits)
    const holdout = options.holdout === undefined ? undefined : yield* readEvalTokens(nodePath.resolve(options.holdout), limits)
    return {
      modelPath,
      model,
      ...(refPath !== undefined && reference !== undefined ? { refPath, reference } : {}),
      dataVocab,
      members,
      ...(holdout !== undefined ? { holdout } : {})
    }
  })
