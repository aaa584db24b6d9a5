/**
 * `membership-inference` metric: the loss-threshold attack (a sample is called
 * a member when its code length is at most a threshold).
 *
 * The evaluation set is balanced: n = min(members, non-members) of each,
 * drawn by a permutation seeded from the run seed; a share of it
 * (calibrationFraction) chooses the calibrated threshold, the rest evaluates
 * it. What each stored key means: membership-values.ts.
 */
import { Effect, Schema } from "effect"
import { definePlugin, MetricError, withDefault, type MetricImpl, type MetricSubject } from "@memorize/core"
import { membershipNeeds } from "./requirements.ts"
import { auc, bestF1, f1AtThreshold, f1TopHalf, tprAtFpr } from "../numerics/roc.ts"
import { permutation } from "../numerics/random.ts"
import { mean } from "../numerics/stats.ts"
import { membershipReport } from "../report/metrics.ts"
import { checkCompatible, codeLengthsOf } from "./common.ts"
import { MembershipValuesSchema, type MembershipStats, type MembershipValues } from "./membership-values.ts"

export type { MembershipStats }

export const MEMBERSHIP = "membership-inference"

/** Loss attack: scores are negated code lengths, so "higher = member" holds. */
const negate = (xs: Float64Array): Float64Array => xs.map((x) => -x)

const pick = (xs: Float64Array, idx: Uint32Array, from: number, to: number): Float64Array => {
  const out = new Float64Array(to - from)
  for (let i = from; i < to; i++) out[i - from] = xs[idx[i]]
  return out
}

/**
 * The attack on given code lengths (pure). Both lists must be non-empty.
 * `calibrationFraction` of each balanced class goes to calibration.
 */
export const membershipAttack = (memberBits: Float64Array, nonMemberBits: Float64Array, seed: number, calibrationFraction: number): MembershipStats => {
  const n = Math.min(memberBits.length, nonMemberBits.length)
  const pm = permutation(memberBits.length, seed)
  const pn = permutation(nonMemberBits.length, seed ^ 0x9e3779b9)
  const mem = negate(pick(memberBits, pm, 0, n))
  const non = negate(pick(nonMemberBits, pn, 0, n))
  const best = bestF1(mem, non)
  const nCal = Math.floor(n * calibrationFraction)
  let f1Calibrated: number | null = null
  let calThreshold: number | null = null
  if (nCal > 0 && nCal < n) {
    const cal = bestF1(mem.subarray(0, nCal), non.subarray(0, nCal))
    f1Calibrated = f1AtThreshold(mem.subarray(nCal), non.subarray(nCal), cal.threshold)
    calThreshold = -cal.threshold
  }
  return {
    members: n,
    nonMembers: n,
    f1Best: best.f1,
    bestThresholdBits: -best.threshold,
    f1TopHalf: f1TopHalf(mem, non),
    f1Calibrated,
    calibrationThresholdBits: calThreshold,
    calibrationMembers: f1Calibrated === null ? 0 : nCal,
    calibrationNonMembers: f1Calibrated === null ? 0 : nCal,
    evaluationMembers: f1Calibrated === null ? 0 : n - nCal,
    evaluationNonMembers: f1Calibrated === null ? 0 : n - nCal,
    auc: auc(mem, non),
    tprAt1pctFpr: tprAtFpr(mem, non, 0.01),
    tprAt0p1pctFpr: tprAtFpr(mem, non, 0.001),
    fprResolution: 1 / n,
    meanMemberBits: -mean(mem),
    meanNonMemberBits: -mean(non)
  }
}

export const MembershipConfig = Schema.Struct({
  calibrationFraction: withDefault(
    Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMinimum: true, exclusiveMaximum: true })).annotate({
      description: "share of members and of non-members used to choose the calibrated threshold; the rest evaluates it"
    }),
    0.5
  )
})

export const measureMembership = (config: typeof MembershipConfig.Type): MetricImpl<MembershipValues> =>
  Effect.fn("measureMembership")(function* (subject: MetricSubject) {
    const { model, dataset } = subject
    yield* checkCompatible(MEMBERSHIP, model, dataset, "model")
    if (dataset.train.count === 0 || dataset.holdout.count === 0) {
      return yield* Effect.fail(
        new MetricError({
          metric: MEMBERSHIP,
          message: `needs members and non-members, dataset "${dataset.kind}" has ${dataset.train.count} training and ${dataset.holdout.count} holdout sequences`
        })
      )
    }
    const memberBits = yield* codeLengthsOf(MEMBERSHIP, model, dataset.train, "model")
    const nonMemberBits = yield* codeLengthsOf(MEMBERSHIP, model, dataset.holdout, "model")
    return membershipAttack(memberBits, nonMemberBits, subject.context.seed, config.calibrationFraction)
  })

export const membershipPlugin = definePlugin({
  kind: "metric",
  name: MEMBERSHIP,
  description: "Loss-threshold membership inference on a balanced member/non-member set: F1 (best and calibrated threshold), ROC AUC, TPR at 1% and 0.1% FPR.",
  config: MembershipConfig,
  output: MembershipValuesSchema,
  check: (_config, input) => Effect.succeed(membershipNeeds(MEMBERSHIP, input)),
  make: measureMembership,
  report: membershipReport,
  summary: [{ header: "MIA F1", digits: 3, value: (v) => v.f1Best }]
})
