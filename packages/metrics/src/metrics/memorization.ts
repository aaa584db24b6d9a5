/**
 * `memorization` metric: per-sample memorization in bits of the members (the
 * headline: unintended memorization, which equals total memorization for
 * synthetic data) and of the holdout (the generalization baseline), with the
 * code lengths it came from. What each stored key means: memorization-values.ts.
 */
import { Effect } from "effect"
import { definePlugin, MetricError, type MetricImpl, type MetricSubject, type TokenSequences } from "@memorize/core"
import { summarizeBits } from "../numerics/stats.ts"
import { NoOptions } from "./no-options.ts"
import { memorizationReport } from "../report/metrics.ts"
import { checkCompatible, describeModel } from "./common.ts"
import { perSampleMemorization } from "./per-sample.ts"
import { memorizationNeeds } from "./requirements.ts"
import { MemorizationValuesSchema, type MemorizationSection, type MemorizationValues } from "./memorization-values.ts"

export const MEMORIZATION = "memorization"

const section = (subject: MetricSubject, seqs: TokenSequences) =>
  Effect.map(perSampleMemorization(MEMORIZATION, subject, seqs), (ps): MemorizationSection => {
    const unintended = summarizeBits(ps.unintended)
    const total = ps.total === undefined ? null : summarizeBits(ps.total)
    return {
      estimate: ps.estimate,
      ...unintended,
      codeLength: summarizeBits(ps.codeLengths),
      referenceCodeLength: ps.referenceCodeLengths === undefined ? null : summarizeBits(ps.referenceCodeLengths),
      totalMemorization: total,
      generalizationBits: total === null ? null : total.totalBits - unintended.totalBits
    }
  })

export const measureMemorization: MetricImpl<MemorizationValues> = Effect.fn("measureMemorization")(function* (subject: MetricSubject) {
  const { model, dataset, reference } = subject
  yield* checkCompatible(MEMORIZATION, model, dataset, "model")
  if (reference !== undefined) yield* checkCompatible(MEMORIZATION, reference, dataset, "reference model")
  if (dataset.train.count === 0) {
    return yield* Effect.fail(new MetricError({ metric: MEMORIZATION, message: `dataset "${dataset.kind}" has no training (member) sequences` }))
  }
  const train = yield* section(subject, dataset.train)
  const holdout = dataset.holdout.count === 0 ? null : yield* section(subject, dataset.holdout)
  return {
    ...train,
    entropyBitsPerSequence: dataset.entropyBitsPerSequence ?? null,
    reference: reference === undefined ? null : describeModel(reference),
    holdout
  }
})

export const memorizationPlugin = definePlugin({
  kind: "metric",
  name: MEMORIZATION,
  description:
    "Per-sample memorization in bits: H(x) − L(x|θ̂) on synthetic data, L(x|θ) − L(x|θ̂) against a reference model; totals, means, quantiles, on members and holdout.",
  config: NoOptions,
  output: MemorizationValuesSchema,
  check: (_config, input) => Effect.succeed(memorizationNeeds(MEMORIZATION, input)),
  make: () => measureMemorization,
  report: memorizationReport,
  summary: [
    { header: "memorized bits", digits: 0, value: (v) => v.totalBits },
    { header: "bits/param", digits: 3, value: (v, r) => v.totalBits / r.model.paramCount }
  ]
})
