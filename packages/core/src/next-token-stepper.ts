/**
 * Stepping through a batch position by position (`NextTokenStepper`,
 * contracts.ts): the argument checks every stepper makes, and the stepper of
 * a model that has only `nextTokenLogits`.
 */
import { Effect } from "effect"
import type { NextTokenStepper, StepperShape, TokenSequences, TrainedModel } from "./contracts.ts"
import { ModelError } from "./errors.ts"

/**
 * What is wrong with a step (undefined when nothing): positions must come in
 * order, and `previous` must hold one in-vocabulary token per sequence (a
 * native model indexes its embedding table with them).
 */
export const stepProblem = (shape: StepperShape, expected: number, position: number, previous: Uint32Array): string | undefined => {
  if (position !== expected || position >= shape.seqLen)
    return `nextTokenStepper: position ${position} asked for where ${expected < shape.seqLen ? `position ${expected}` : "nothing more"} comes next (positions go 0…${shape.seqLen - 1} in order)`
  if (position === 0) return undefined
  if (previous.length < shape.count) return `nextTokenStepper: ${previous.length} previous tokens for ${shape.count} sequences at position ${position}`
  for (let i = 0; i < shape.count; i++) {
    if (previous[i] >= shape.vocabSize)
      return `nextTokenStepper: token ${previous[i]} of sequence ${i} at position ${position - 1} is outside the vocabulary of ${shape.vocabSize}`
  }
  return undefined
}

/**
 * A stepper over `nextTokenLogits`: the prefixes fed so far in a full-length
 * batch (zeros after them), one full call per position. An encoder and a
 * decoder that step feed the same prefixes, so they get the same floats even
 * from a model that (against the contract) reads the positions after.
 */
export const nextTokenStepperOf = (nextTokenLogits: NonNullable<TrainedModel["nextTokenLogits"]>, shape: StepperShape): NextTokenStepper => {
  const S = shape.seqLen
  const tokens = new Uint32Array(shape.count * S)
  const seqs: TokenSequences = { vocabSize: shape.vocabSize, seqLen: S, count: shape.count, tokens }
  let expected = 0
  return {
    next: (position, previous) =>
      Effect.suspend(() => {
        const problem = stepProblem(shape, expected, position, previous)
        if (problem !== undefined) return Effect.fail(new ModelError({ message: problem }))
        expected++
        if (position > 0) for (let i = 0; i < shape.count; i++) tokens[i * S + position - 1] = previous[i]
        return nextTokenLogits(seqs, position)
      })
  }
}
