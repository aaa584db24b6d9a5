/**
 * Real CPU implementations of `TrainedModel` for tests and plugin authors:
 * a model is given by its conditional distributions, and code lengths,
 * token log-probs and greedy generation are computed from them exactly.
 *
 * - `conditionalModel`: any function from context to log2-probabilities
 * - `tableModel`: a bigram table (V×V log2-probabilities)
 * - `uniformModel`: every token log2 V bits (the synthetic reference)
 * - `memorizerModel`: puts `confidence` of its mass on continuations of the
 *   sequences it "memorized" (a lookup trie), the rest uniform
 *
 * Following the contract, the first token of a sequence is coded at log2 V
 * bits (no BOS token). `save` fails: these models have no checkpoint format.
 * `nextTokenLogits` gives the log-probabilities in nats rounded to float32
 * (so softmax of them is the model's distribution up to float32 rounding),
 * computed from the prefix alone: causal by construction.
 */
import { Effect } from "effect"
import { ModelError, type ModelDescription, type TokenSequences, type TrainedModel } from "@memorize/core"

export interface ConditionalModelOptions {
  readonly vocabSize: number
  readonly seqLen: number
  /** log2 p(· | context) for a context of length ≥ 1; must sum (in probability) to 1. */
  readonly logProbs: (context: Uint32Array) => Float64Array
  readonly kind?: string
  readonly paramCount?: number
  readonly precision?: string
  readonly config?: Readonly<Record<string, unknown>>
}

/** A TrainedModel that certainly has `nextTokenLogits` (every model of this kit). */
export type CodingModel = TrainedModel & { readonly nextTokenLogits: NonNullable<TrainedModel["nextTokenLogits"]> }

const checkSeqs = (m: { vocabSize: number; seqLen: number; kind: string }, seqs: TokenSequences, what: string): Effect.Effect<void, ModelError> => {
  if (seqs.vocabSize !== m.vocabSize) {
    return Effect.fail(new ModelError({ message: `${m.kind} model has vocabulary ${m.vocabSize}, ${what} have ${seqs.vocabSize}` }))
  }
  if (seqs.seqLen > m.seqLen) {
    return Effect.fail(new ModelError({ message: `${m.kind} model has context ${m.seqLen}, ${what} have length ${seqs.seqLen}` }))
  }
  if (seqs.tokens.length !== seqs.count * seqs.seqLen) {
    return Effect.fail(new ModelError({ message: `${what}: ${seqs.tokens.length} tokens for ${seqs.count} × ${seqs.seqLen}` }))
  }
  for (let i = 0; i < seqs.tokens.length; i++) {
    if (seqs.tokens[i] >= m.vocabSize) {
      return Effect.fail(new ModelError({ message: `${what}: token ${seqs.tokens[i]} at position ${i} is outside the vocabulary of ${m.vocabSize}` }))
    }
  }
  return Effect.void
}

const argmax = (xs: Float64Array): number => {
  let best = 0
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i
  return best
}

export const conditionalModel = (o: ConditionalModelOptions): CodingModel => {
  const kind = o.kind ?? "conditional"
  const V = o.vocabSize
  const firstLogProb = -Math.log2(V)
  const meta = { vocabSize: V, seqLen: o.seqLen, kind }
  const description: ModelDescription = {
    kind,
    vocabSize: V,
    seqLen: o.seqLen,
    paramCount: o.paramCount ?? 0,
    config: o.config ?? {}
  }
  const tokenLogProbs = (seqs: TokenSequences) =>
    Effect.map(checkSeqs(meta, seqs, "sequences"), () => {
      const S = seqs.seqLen
      const out = new Float64Array(seqs.count * S)
      for (let i = 0; i < seqs.count; i++) {
        const row = seqs.tokens.subarray(i * S, i * S + S)
        for (let t = 0; t < S; t++) out[i * S + t] = t === 0 ? firstLogProb : o.logProbs(row.subarray(0, t))[row[t]]
      }
      return out
    })
  const nextTokenLogits = (seqs: TokenSequences, position: number) =>
    Effect.flatMap(checkSeqs(meta, seqs, "sequences"), () => {
      const S = seqs.seqLen
      if (!Number.isInteger(position) || position < 0 || position >= S) {
        return Effect.fail(new ModelError({ message: `${kind} model: position ${position} is outside sequences of length ${S}` }))
      }
      const out = new Float32Array(seqs.count * V)
      // Position 0 has no context: its logits stay 0 (uniform), as the contract says.
      if (position > 0) {
        for (let i = 0; i < seqs.count; i++) {
          const lp = o.logProbs(seqs.tokens.subarray(i * S, i * S + position))
          for (let s = 0; s < V; s++) out[i * V + s] = lp[s] * Math.LN2
        }
      }
      return Effect.succeed(out)
    })
  return {
    description,
    paramCount: description.paramCount,
    precision: o.precision ?? "fp64",
    nextTokenLogits,
    vocabSize: V,
    seqLen: o.seqLen,
    tokenLogProbs,
    codeLengths: (seqs) =>
      Effect.map(tokenLogProbs(seqs), (lp) => {
        const out = new Float64Array(seqs.count)
        for (let i = 0; i < seqs.count; i++) {
          let s = 0
          for (let t = 0; t < seqs.seqLen; t++) s -= lp[i * seqs.seqLen + t]
          out[i] = s
        }
        return out
      }),
    generate: (prefixes, length) =>
      Effect.gen(function* () {
        yield* checkSeqs(meta, prefixes, "prefixes")
        if (prefixes.seqLen + length > o.seqLen) {
          return yield* Effect.fail(
            new ModelError({ message: `${kind} model has context ${o.seqLen}: cannot continue ${prefixes.seqLen} tokens by ${length}` })
          )
        }
        const out = new Uint32Array(prefixes.count * length)
        const ctx = new Uint32Array(prefixes.seqLen + length)
        for (let i = 0; i < prefixes.count; i++) {
          ctx.set(prefixes.tokens.subarray(i * prefixes.seqLen, (i + 1) * prefixes.seqLen))
          for (let t = 0; t < length; t++) {
            const n = prefixes.seqLen + t
            // Empty context: the first token is uniform, so greedy picks id 0.
            const next = n === 0 ? 0 : argmax(o.logProbs(ctx.subarray(0, n)))
            ctx[n] = next
            out[i * length + t] = next
          }
        }
        return out
      }),
    save: (dir) => Effect.fail(new ModelError({ message: `${kind} model (testing kit) cannot be saved`, file: dir }))
  }
}

/** A bigram model: `table[a·V + b]` = log2 p(b | previous token a); rows must be normalized. */
export const tableModel = (o: {
  readonly vocabSize: number
  readonly seqLen: number
  readonly table: Float64Array
  readonly precision?: string
}): CodingModel => {
  const V = o.vocabSize
  if (o.table.length !== V * V) throw new RangeError(`tableModel: table has ${o.table.length} entries, expected ${V}×${V}`)
  return conditionalModel({
    vocabSize: V,
    seqLen: o.seqLen,
    kind: "bigram-table",
    paramCount: V * V,
    ...(o.precision === undefined ? {} : { precision: o.precision }),
    logProbs: (ctx) => o.table.subarray(ctx[ctx.length - 1] * V, ctx[ctx.length - 1] * V + V)
  })
}

/**
 * The uniform model. Its code length is computed as S·log2 V directly (not a
 * sum of S terms) so that it equals a synthetic dataset's entropy bit for bit.
 */
export const uniformModel = (vocabSize: number, seqLen: number): CodingModel => {
  const row = new Float64Array(vocabSize).fill(-Math.log2(vocabSize))
  const base = conditionalModel({ vocabSize, seqLen, kind: "uniform", paramCount: 0, logProbs: () => row })
  return {
    ...base,
    codeLengths: (seqs) => Effect.map(base.tokenLogProbs(seqs), () => new Float64Array(seqs.count).fill(seqs.seqLen * Math.log2(vocabSize)))
  }
}

const keyOf = (ctx: ArrayLike<number>): string => Array.prototype.join.call(ctx, ",")

/**
 * A model that memorized `sequences`: after a context that prefixes some of
 * them it gives probability `confidence` (split by frequency) to their next
 * tokens, and (1 − confidence)/V to every token. confidence = 0 is uniform.
 */
export const memorizerModel = (o: {
  readonly sequences: TokenSequences
  readonly confidence: number
  readonly seqLen?: number
  readonly paramCount?: number
}): CodingModel => {
  const { sequences: seqs, confidence } = o
  const V = seqs.vocabSize
  const S = seqs.seqLen
  const next = new Map<string, Map<number, number>>()
  for (let i = 0; i < seqs.count; i++) {
    const row = seqs.tokens.subarray(i * S, i * S + S)
    for (let t = 1; t < S; t++) {
      const k = keyOf(row.subarray(0, t))
      const m = next.get(k) ?? new Map<number, number>()
      m.set(row[t], (m.get(row[t]) ?? 0) + 1)
      next.set(k, m)
    }
  }
  const uniform = new Float64Array(V).fill(-Math.log2(V))
  return conditionalModel({
    vocabSize: V,
    seqLen: o.seqLen ?? S,
    kind: "memorizer",
    paramCount: o.paramCount ?? seqs.count * S,
    config: { confidence },
    logProbs: (ctx) => {
      const m = next.get(keyOf(ctx))
      if (m === undefined) return uniform
      let total = 0
      for (const c of m.values()) total += c
      const p = new Float64Array(V).fill((1 - confidence) / V)
      for (const [tok, c] of m) p[tok] += (confidence * c) / total
      return p.map(Math.log2)
    }
  })
}
