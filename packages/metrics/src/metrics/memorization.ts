/**
 * `memorization` metric. Output keys (read by the capacity law and reports):
 *
 *   estimate                "synthetic" (against exact entropy) | "reference"
 *   entropyBitsPerSequence  H(x) or null
 *   reference               { kind, paramCount, precision } | null
 *   count, totalBits, meanBits, quantiles
 *                           unintended memorization of the members (the
 *                           headline; equals total memorization for synthetic data)
 *   codeLength              BitsSummary of L(x|θ̂) on members
 *   referenceCodeLength     BitsSummary of L(x|θ) on members, or null
 *   totalMemorization       BitsSummary of max(0, H − L(x|θ̂)), or null (no entropy)
 *   generalizationBits      totalMemorization.totalBits − totalBits, or null
 *   holdout                 the same keys (without `holdout`) for non-members, or
 *                           null when the dataset has none: the generalization baseline
 *
 * BitsSummary = { count, totalBits, meanBits, quantiles }; quantiles keyed
 * p0, p5, p25, p50, p75, p95, p100 (type-7 interpolation, numerics/stats.ts).
 */
import { Effect } from "effect"
import { definePlugin, MetricError, type Json, type MetricSubject, type TokenSequences } from "@memorize/core"
import { summarizeBits } from "../numerics/stats.ts"
import { NoOptions } from "./no-options.ts"
import { memorizationReport } from "../report/metrics.ts"
import { checkCompatible, describeModel } from "./common.ts"
import { metricNumber } from "../laws/results.ts"
import { perSampleMemorization } from "./per-sample.ts"
import { memorizationNeeds } from "./requirements.ts"

export const MEMORIZATION = "memorization"

const section = (subject: MetricSubject, seqs: TokenSequences) =>
  Effect.map(perSampleMemorization(MEMORIZATION, subject, seqs), (ps) => {
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

export const measureMemorization = Effect.fn("measureMemorization")(function* (subject: MetricSubject) {
  const { model, dataset, reference } = subject
  yield* checkCompatible(MEMORIZATION, model, dataset, "model")
  if (reference !== undefined) yield* checkCompatible(MEMORIZATION, reference, dataset, "reference model")
  if (dataset.train.count === 0) {
    return yield* Effect.fail(new MetricError({ metric: MEMORIZATION, message: `dataset "${dataset.kind}" has no training (member) sequences` }))
  }
  const train = yield* section(subject, dataset.train)
  const holdout = dataset.holdout.count === 0 ? null : yield* section(subject, dataset.holdout)
  const out = {
    ...train,
    entropyBitsPerSequence: dataset.entropyBitsPerSequence ?? null,
    reference: reference === undefined ? null : describeModel(reference),
    holdout
  }
  return out satisfies { readonly [k: string]: Json }
})

export const memorizationPlugin = definePlugin({
  kind: "metric",
  name: MEMORIZATION,
  description: "Per-sample memorization in bits: H(x) − L(x|θ̂) on synthetic data, L(x|θ) − L(x|θ̂) against a reference model; totals, means, quantiles, on members and holdout.",
  config: NoOptions,
  check: (_config, input) => Effect.succeed(memorizationNeeds(MEMORIZATION, input)),
  make: () => measureMemorization,
  report: memorizationReport,
  summary: [
    { header: "memorized bits", digits: 0, value: (_, r) => metricNumber(r, MEMORIZATION, "totalBits") },
    { header: "bits/param", digits: 3, value: (_, r) => (metricNumber(r, MEMORIZATION, "totalBits") ?? NaN) / r.model.paramCount }
  ]
})
