/**
 * Per-sample rarity, after Morris et al. (2025):
 *   TF-IDF(d) = (1/|d|) Σ_{w ∈ d} log(|D| / tf(w, D))
 * with d a sequence (|d| = its token count, every position counted), D the
 * whole dataset (train and holdout together), tf(w, D) the number of
 * occurrences of token w in D and |D| the total number of tokens in D. Each
 * term is then the token's unigram surprisal in nats (≥ 0), and the score is
 * the sequence's mean surprisal: high for sequences of rare tokens. The paper
 * leaves |D| undefined; the token count keeps every term non-negative.
 */
import type { TokenSequences } from "@memorize/core"

export const tfidfRarity = (train: TokenSequences, holdout: TokenSequences): { readonly train: Float64Array; readonly holdout: Float64Array } => {
  const counts = new Map<number, number>()
  for (const seqs of [train, holdout]) for (const t of seqs.tokens) counts.set(t, (counts.get(t) ?? 0) + 1)
  const total = train.tokens.length + holdout.tokens.length
  const score = (seqs: TokenSequences): Float64Array => {
    const out = new Float64Array(seqs.count)
    const S = seqs.seqLen
    for (let i = 0; i < seqs.count; i++) {
      let sum = 0
      for (let j = 0; j < S; j++) sum += Math.log(total / counts.get(seqs.tokens[i * S + j])!)
      out[i] = sum / S
    }
    return out
  }
  return { train: score(train), holdout: score(holdout) }
}
