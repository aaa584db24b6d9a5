/**
 * Exact threshold-attack statistics on full score lists (sort-based, no
 * binning). Convention: a higher score means "more likely a member", and a
 * threshold t classifies a sample as member when score ≥ t. The loss attack
 * uses score = −loss.
 */
import { averageRanks } from "./stats.ts"

/**
 * ROC AUC via the Mann–Whitney statistic with average ranks for ties:
 * AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋), R₊ the rank sum of the positives.
 * A tie between a member and a non-member counts one half.
 */
export const auc = (pos: ArrayLike<number>, neg: ArrayLike<number>): number => {
  const np = pos.length
  const nn = neg.length
  if (np === 0 || nn === 0) return NaN
  const all = new Float64Array(np + nn)
  for (let i = 0; i < np; i++) all[i] = pos[i]
  for (let i = 0; i < nn; i++) all[np + i] = neg[i]
  const ranks = averageRanks(all)
  let r = 0
  for (let i = 0; i < np; i++) r += ranks[i]
  return (r - (np * (np + 1)) / 2) / (np * nn)
}

/** One operating point: at threshold t, the counts of each outcome. */
export interface OperatingPoint {
  readonly threshold: number
  readonly tp: number
  readonly fp: number
  readonly fn: number
  readonly tn: number
}

/**
 * Every distinct operating point, from the strictest threshold (+∞: nothing is
 * a member) down to the loosest (the minimum score: everything is a member).
 */
export const operatingPoints = (pos: ArrayLike<number>, neg: ArrayLike<number>): Array<OperatingPoint> => {
  const np = pos.length
  const nn = neg.length
  const items: Array<{ s: number; p: boolean }> = []
  for (let i = 0; i < np; i++) items.push({ s: pos[i], p: true })
  for (let i = 0; i < nn; i++) items.push({ s: neg[i], p: false })
  items.sort((a, b) => b.s - a.s)
  const out: Array<OperatingPoint> = [{ threshold: Infinity, tp: 0, fp: 0, fn: np, tn: nn }]
  let tp = 0
  let fp = 0
  let i = 0
  while (i < items.length) {
    const t = items[i].s
    while (i < items.length && items[i].s === t) {
      if (items[i].p) tp++
      else fp++
      i++
    }
    out.push({ threshold: t, tp, fp, fn: np - tp, tn: nn - fp })
  }
  return out
}

export const f1Of = (o: OperatingPoint): number => (o.tp === 0 ? 0 : (2 * o.tp) / (2 * o.tp + o.fp + o.fn))

/** F1 when calling members those with score ≥ threshold. */
export const f1AtThreshold = (pos: ArrayLike<number>, neg: ArrayLike<number>, threshold: number): number => {
  let tp = 0
  let fp = 0
  for (let i = 0; i < pos.length; i++) if (pos[i] >= threshold) tp++
  for (let i = 0; i < neg.length; i++) if (neg[i] >= threshold) fp++
  return f1Of({ threshold, tp, fp, fn: pos.length - tp, tn: neg.length - fp })
}

/** The threshold with the highest F1 (the first, i.e. strictest, on ties) and that F1. */
export const bestF1 = (pos: ArrayLike<number>, neg: ArrayLike<number>): { readonly f1: number; readonly threshold: number } => {
  let best = { f1: -1, threshold: Infinity }
  for (const o of operatingPoints(pos, neg)) {
    const f = f1Of(o)
    if (f > best.f1) best = { f1: f, threshold: o.threshold }
  }
  return best
}

/** Highest TPR over thresholds whose FPR ≤ maxFpr (exact, no interpolation). */
export const tprAtFpr = (pos: ArrayLike<number>, neg: ArrayLike<number>, maxFpr: number): number => {
  let best = 0
  for (const o of operatingPoints(pos, neg)) {
    if (o.fp / neg.length <= maxFpr) best = Math.max(best, o.tp / pos.length)
  }
  return best
}

/** ROC curve points (fpr, tpr), from (0,0) to (1,1). */
export const rocCurve = (pos: ArrayLike<number>, neg: ArrayLike<number>): Array<{ fpr: number; tpr: number }> =>
  operatingPoints(pos, neg).map((o) => ({ fpr: o.fp / neg.length, tpr: o.tp / pos.length }))

/**
 * F1 of the label-free "lower half" attack on a balanced set: of the pooled
 * scores, the |pos| highest are called members (the attacker knows how many
 * members there are, not which). Predicted and actual positives are then
 * equally many, so precision = recall = F1 = TP / |pos|: 1 when the classes
 * separate, ½ in expectation when the scores carry no information — the
 * chance level the membership law's ½ asymptote assumes (a best-threshold
 * F1 is at least 2/3 by construction: call everything a member). Ties at the
 * cut are shared out in expectation over a random tie break, so the value
 * does not depend on the order of the inputs.
 */
export const f1TopHalf = (pos: ArrayLike<number>, neg: ArrayLike<number>): number => {
  const np = pos.length
  if (np === 0 || np !== neg.length) return NaN
  let tp = 0
  let called = 0
  for (const o of operatingPoints(pos, neg)) {
    const groupSize = o.tp + o.fp - called
    if (o.tp + o.fp >= np) {
      // The tie group at the cut: `np − called` of its members+non-members are called, at random.
      const groupMembers = o.tp - tp
      return (tp + (groupSize === 0 ? 0 : ((np - called) * groupMembers) / groupSize)) / np
    }
    tp = o.tp
    called = o.tp + o.fp
  }
  return tp / np
}
