/**
 * `membership-inference` metric: the loss-threshold attack (a sample is called
 * a member when its code length is at most a threshold).
 *
 * The evaluation set is balanced: n = min(members, non-members) of each,
 * drawn by a permutation seeded from the run seed. Output keys:
 *
 *   members, nonMembers        counts used (equal)
 *   f1Best                     F1 at the best threshold over the whole set (the paper's number)
 *   bestThresholdBits          that threshold, as a code length in bits
 *   f1TopHalf                  F1 when the half of the set with the shortest code lengths is
 *                              called members: label-free, chance level exactly ½ (roc.ts)
 *   f1Calibrated               F1 on the evaluation split with the threshold that
 *                              maximised F1 on the separate calibration split (unbiased);
 *                              null when either split would be empty
 *   calibrationThresholdBits, calibrationMembers, calibrationNonMembers,
 *   evaluationMembers, evaluationNonMembers
 *   auc                        ROC AUC (Mann–Whitney, ties count ½)
 *   tprAt1pctFpr, tprAt0p1pctFpr  highest TPR with FPR ≤ 1% / 0.1% (exact)
 *   fprResolution              1 / nonMembers: an FPR bound below it can only be met at FPR 0
 *   meanMemberBits, meanNonMemberBits
 */
import { Effect, Schema } from "effect"
import { definePlugin, MetricError, withDefault, type Json, type MetricSubject } from "@memorize/core"
import { membershipNeeds } from "./requirements.ts"
import { auc, bestF1, f1AtThreshold, f1TopHalf, tprAtFpr } from "../numerics/roc.ts"
import { permutation } from "../numerics/random.ts"
import { mean } from "../numerics/stats.ts"
import { membershipReport } from "../report/metrics.ts"
import { checkCompatible, codeLengthsOf } from "./common.ts"
import { metricNumber } from "../laws/results.ts"

export const MEMBERSHIP = "membership-inference"

/** Loss attack: scores are negated code lengths, so "higher = member" holds. */
const negate = (xs: Float64Array): Float64Array => xs.map((x) => -x)

const pick = (xs: Float64Array, idx: Uint32Array, from: number, to: number): Float64Array => {
  const out = new Float64Array(to - from)
  for (let i = from; i < to; i++) out[i - from] = xs[idx[i]]
  return out
}

/** A type alias (not an interface) so that it is assignable to Json as it is. */
export type MembershipStats = {
  readonly members: number
  readonly nonMembers: number
  readonly f1Best: number
  readonly bestThresholdBits: number
  readonly f1TopHalf: number
  readonly f1Calibrated: number | null
  readonly calibrationThresholdBits: number | null
  readonly calibrationMembers: number
  readonly calibrationNonMembers: number
  readonly evaluationMembers: number
  readonly evaluationNonMembers: number
  readonly auc: number
  readonly tprAt1pctFpr: number
  readonly tprAt0p1pctFpr: number
  readonly fprResolution: number
  readonly meanMemberBits: number
  readonly meanNonMemberBits: number
}

/**
 * The attack on given code lengths (pure). Both lists must be non-empty.
 * `calibrationFraction` of each balanced class goes to calibration.
 */
export const membershipAttack = (
  memberBits: Float64Array,
  nonMemberBits: Float64Array,
  seed: number,
  calibrationFraction: number
): MembershipStats => {
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

export const measureMembership = (config: typeof MembershipConfig.Type) =>
  Effect.fn("measureMembership")(function* (subject: MetricSubject) {
    const { model, dataset } = subject
    yield* checkCompatible(MEMBERSHIP, model, dataset, "model")
    if (dataset.train.count === 0 || dataset.holdout.count === 0) {
      return yield* Effect.fail(new MetricError({
        metric: MEMBERSHIP,
        message: `needs members and non-members, dataset "${dataset.kind}" has ${dataset.train.count} training and ${dataset.holdout.count} holdout sequences`
      }))
    }
    const memberBits = yield* codeLengthsOf(MEMBERSHIP, model, dataset.train, "model")
    const nonMemberBits = yield* codeLengthsOf(MEMBERSHIP, model, dataset.holdout, "model")
    const stats = membershipAttack(memberBits, nonMemberBits, subject.context.seed, config.calibrationFraction)
    return stats satisfies { readonly [k: string]: Json }
  })

export const membershipPlugin = definePlugin({
  kind: "metric",
  name: MEMBERSHIP,
  description: "Loss-threshold membership inference on a balanced member/non-member set: F1 (best and calibrated threshold), ROC AUC, TPR at 1% and 0.1% FPR.",
  config: MembershipConfig,
  check: (_config, input) => Effect.succeed(membershipNeeds(MEMBERSHIP, input)),
  make: measureMembership,
  report: membershipReport,
  summary: [{ header: "MIA F1", digits: 3, value: (_, r) => metricNumber(r, MEMBERSHIP, "f1Best") }]
})
