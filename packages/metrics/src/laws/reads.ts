/**
 * What a law reads from the runs' metrics, checked by `validate` (core's
 * requirements.ts) before any training: the metric must be in the spec, and
 * the key must start with one of that metric's output fields. A law fitted
 * over a missing metric or a misspelt key would otherwise only say so in
 * laws.json after the whole sweep ran.
 */
import type { CheckInput, Problem } from "@memorize/core"
import { Effect } from "effect"

/** The top-level output fields of the built-in metrics a law may read (their result.json sections). */
export const metricFields: Readonly<Record<string, ReadonlyArray<string>>> = {
  memorization: [
    "estimate",
    "count",
    "totalBits",
    "meanBits",
    "quantiles",
    "codeLength",
    "referenceCodeLength",
    "totalMemorization",
    "generalizationBits",
    "entropyBitsPerSequence",
    "reference",
    "holdout"
  ],
  "membership-inference": [
    "members",
    "nonMembers",
    "f1Best",
    "bestThresholdBits",
    "f1TopHalf",
    "f1Calibrated",
    "calibrationThresholdBits",
    "calibrationMembers",
    "calibrationNonMembers",
    "evaluationMembers",
    "evaluationNonMembers",
    "auc",
    "tprAt1pctFpr",
    "tprAt0p1pctFpr",
    "fprResolution",
    "meanMemberBits",
    "meanNonMemberBits"
  ],
  loss: ["train", "holdout"]
}

export interface Read {
  /** The law's config field holding the key. */
  readonly field: string
  readonly metric: string
  readonly key: string
}

export const readsProblems = (law: string, reads: ReadonlyArray<Read>, { run }: CheckInput): Effect.Effect<ReadonlyArray<Problem>> =>
  Effect.succeed(
    reads.flatMap((r): ReadonlyArray<Problem> => {
      if (run.metrics !== undefined && !run.metrics.includes(r.metric))
        return [
          {
            path: [r.field],
            message: `the ${law} law reads metrics.${r.metric}.${r.key}, but the spec has no ${r.metric} metric (add { kind: ${r.metric} } to metrics:)`
          }
        ]
      const fields = metricFields[r.metric]
      const head = r.key.split(".")[0]
      if (fields !== undefined && !fields.includes(head))
        return [{ path: [r.field], message: `"${r.key}" is not a field of the ${r.metric} metric (its fields: ${fields.join(", ")})` }]
      return []
    })
  )
