/**
 * Per-sample code lengths and memorization for one set of sequences, shared by
 * the memorization and rarity metrics so both use one definition.
 */
import { Effect } from "effect"
import { MetricError, type MetricSubject, type ModelError, type TokenSequences } from "@memorize/core"
import { codeLengthsOf } from "./common.ts"
import { totalMemorization, unintendedMemorization } from "./memorization-core.ts"
import type { Estimate } from "./memorization-values.ts"

export interface PerSample {
  /** Which estimate `unintended` is: against the exact entropy (synthetic) or a reference model. */
  readonly estimate: Estimate
  /** L(x|θ̂), bits. */
  readonly codeLengths: Float64Array
  /** L(x|θ) of the reference model; undefined without one. */
  readonly referenceCodeLengths?: Float64Array
  /** max(0, H − L(x|θ̂)); undefined when the entropy is unknown. */
  readonly total?: Float64Array
  /** Unintended memorization: against the reference when given, else H (synthetic). */
  readonly unintended: Float64Array
}

export const perSampleMemorization = (metric: string, subject: MetricSubject, seqs: TokenSequences): Effect.Effect<PerSample, MetricError | ModelError> =>
  Effect.gen(function* () {
    const h = subject.dataset.entropyBitsPerSequence
    const codeLengths = yield* codeLengthsOf(metric, subject.model, seqs, "model")
    const total = h === undefined ? undefined : totalMemorization(h, codeLengths)
    if (subject.reference !== undefined) {
      const referenceCodeLengths = yield* codeLengthsOf(metric, subject.reference, seqs, "reference model")
      return {
        estimate: "reference" as const,
        codeLengths,
        referenceCodeLengths,
        ...(total === undefined ? {} : { total }),
        unintended: unintendedMemorization(referenceCodeLengths, codeLengths)
      }
    }
    if (total === undefined) {
      return yield* Effect.fail(
        new MetricError({
          metric,
          message: `dataset "${subject.dataset.kind}" has no exact entropy, so memorization needs a reference model (set reference in the spec)`
        })
      )
    }
    return { estimate: "synthetic" as const, codeLengths, total, unintended: total }
  })
