/**
 * What the metric plugins need of a run, declared for `validate` (core's
 * requirements.ts): checked against the dataset plugin's declared facts
 * before any training, so a run never fails after hours for a reason its
 * spec already showed. A fact the dataset does not declare is not checked
 * here (the metric still fails clearly at run time).
 */
import type { CheckInput, Problem } from "@memorize/core"

/**
 * Memorization in bits needs H(x) (synthetic data with exact entropy) or a
 * reference model θ; a reference must score the same vocabulary.
 */
export const memorizationNeeds = (metric: string, { run }: CheckInput): ReadonlyArray<Problem> => {
  const problems: Array<Problem> = []
  if (run.reference === undefined && run.dataset.exactEntropy === false) {
    problems.push({
      message: `${metric} needs the data's exact entropy or a reference model: this dataset has no exact entropy (text or token data), so add a reference: section to the spec`
    })
  }
  const own = run.dataset.vocabSize
  const ref = run.reference?.dataset.vocabSize
  if (own !== undefined && ref !== undefined && own !== ref) {
    problems.push({
      specPath: ["reference", "dataset"],
      message: `the reference model's data has vocabulary size ${ref} but the run's data has ${own}: a reference can only score data of its own vocabulary`
    })
  }
  return problems
}

/** Membership inference compares members with non-members: it needs a holdout. */
export const membershipNeeds = (metric: string, { run }: CheckInput): ReadonlyArray<Problem> =>
  run.dataset.holdout === 0
    ? // Located at the holdout (where the fix goes, and where a sweep sets it).
      [
        {
          specPath: ["dataset", "holdout"],
          message: `${metric} needs non-members, but the dataset has holdout 0 (give the dataset a holdout: a count, or files for tokens)`
        }
      ]
    : []

/** Extraction continues prefixes shorter than the sequence: at least one prefix length must be < seqLen. */
export const extractionNeeds = (prefixLengths: ReadonlyArray<number>, { run }: CheckInput): ReadonlyArray<Problem> => {
  const seqLen = run.dataset.seqLen
  if (seqLen === undefined || prefixLengths.some((k) => k < seqLen)) return []
  return [
    {
      path: ["prefixLengths"],
      message: `every prefix length (${prefixLengths.join(", ")}) is ≥ the sequence length ${seqLen}: nothing is left to extract (use prefix lengths below ${seqLen})`
    }
  ]
}

/** Rarity correlates the dataset's per-sample TF-IDF with memorization. */
export const rarityNeeds = (metric: string, input: CheckInput): ReadonlyArray<Problem> => [
  ...(input.run.dataset.rarity === false ? [{ message: `${metric} needs per-sample rarity from the dataset: use a text dataset with rarity: true` }] : []),
  ...memorizationNeeds(metric, input)
]
