// The non-members are the holdout set (dataset.holdout, eval --holdout); "members / non-members" is the attack's own vocabulary, kept in these stored keys.
/**
 * What the membership-inference metric stores (result.json
 * `metrics.membership-inference`): its output Schema, and the type drawn
 * from it. The attack is the loss threshold: a sample is called a member
 * when its code length is at most the threshold.
 */
import { Schema } from "effect"
import { NonNegativeInt } from "@memorize/core"
import { Bits, Rate } from "./quantities.ts"

export const MembershipValuesSchema = Schema.Struct({
  members: NonNegativeInt.annotate({ description: "members in the balanced evaluation set" }),
  nonMembers: NonNegativeInt.annotate({ description: "non-members in it (as many as members)" }),
  f1Best: Rate.annotate({ description: "F1 at the best threshold over the whole set (the paper's number)" }),
  bestThresholdBits: Bits.annotate({ description: "that threshold, a code length in bits" }),
  // Stores written before the top-half attack existed lack it.
  f1TopHalf: Schema.optionalKey(
    Rate.annotate({
      description: "F1 when the half of the set with the shortest code lengths is called members: label-free, chance level exactly ½"
    })
  ),
  f1Calibrated: Schema.NullOr(Rate).annotate({
    description: "F1 on the evaluation split at the threshold that maximised F1 on the calibration split (unbiased); null when either split would be empty"
  }),
  calibrationThresholdBits: Schema.NullOr(Bits).annotate({ description: "that calibrated threshold, bits; null with f1Calibrated" }),
  calibrationMembers: NonNegativeInt,
  calibrationNonMembers: NonNegativeInt,
  evaluationMembers: NonNegativeInt,
  evaluationNonMembers: NonNegativeInt,
  auc: Rate.annotate({ description: "ROC AUC (Mann–Whitney, ties count ½)" }),
  tprAt1pctFpr: Rate.annotate({ description: "highest TPR with FPR ≤ 1% (exact)" }),
  tprAt0p1pctFpr: Rate.annotate({ description: "highest TPR with FPR ≤ 0.1% (exact)" }),
  fprResolution: Rate.annotate({ description: "1 / nonMembers: an FPR bound below it can only be met at FPR 0" }),
  meanMemberBits: Bits.annotate({ description: "mean code length of the members, bits per sequence" }),
  meanNonMemberBits: Bits.annotate({ description: "mean code length of the non-members, bits per sequence" })
})
export type MembershipValues = typeof MembershipValuesSchema.Type

/** What the attack computes now: every key, f1TopHalf included. */
export type MembershipStats = Required<MembershipValues>
