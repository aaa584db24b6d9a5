/** Builders for the data metrics consume: token sequences, datasets, subjects. */
import type { Dataset, MetricSubject, RunContext, TokenSequences, Tokenizer, TrainedModel } from "@memorize/core"

/** Token sequences from explicit rows (all of length seqLen). */
export const sequences = (vocabSize: number, seqLen: number, rows: ReadonlyArray<ReadonlyArray<number>>): TokenSequences => {
  const tokens = new Uint32Array(rows.length * seqLen)
  rows.forEach((r, i) => {
    if (r.length !== seqLen) throw new RangeError(`sequences: row ${i} has ${r.length} tokens, expected ${seqLen}`)
    tokens.set(r, i * seqLen)
  })
  return { vocabSize, seqLen, count: rows.length, tokens }
}

export interface DatasetOptions {
  readonly train: TokenSequences
  readonly holdout: TokenSequences
  readonly kind?: string
  /** Exact entropy per sequence; `syntheticDataset` sets S·log2 V. */
  readonly entropyBitsPerSequence?: number
  readonly tokenizer?: Tokenizer
  readonly rarity?: { readonly train: Float64Array; readonly holdout: Float64Array }
}

export const dataset = (o: DatasetOptions): Dataset => ({
  kind: o.kind ?? "fixture",
  vocabSize: o.train.vocabSize,
  seqLen: o.train.seqLen,
  train: o.train,
  holdout: o.holdout,
  ...(o.entropyBitsPerSequence === undefined ? {} : { entropyBitsPerSequence: o.entropyBitsPerSequence }),
  ...(o.tokenizer === undefined ? {} : { tokenizer: o.tokenizer }),
  ...(o.rarity === undefined ? {} : { rarity: o.rarity }),
  fingerprint: "fixture",
  stats: {}
})

/** A uniform i.i.d. dataset's shape: entropy exactly S·log2 V (as the synthetic plugin states it). */
export const syntheticDataset = (train: TokenSequences, holdout: TokenSequences): Dataset =>
  dataset({ train, holdout, kind: "synthetic-fixture", entropyBitsPerSequence: train.seqLen * Math.log2(train.vocabSize) })

export const context = (seed = 0): RunContext => ({ seed, specDir: ".", runDir: ".", cacheDir: "." })

export const subject = (model: TrainedModel, data: Dataset, reference?: TrainedModel, seed = 0): MetricSubject => ({
  model,
  dataset: data,
  ...(reference === undefined ? {} : { reference }),
  context: context(seed)
})

/** Concatenates two sets of sequences of the same shape. */
export const concat = (a: TokenSequences, b: TokenSequences): TokenSequences => {
  const tokens = new Uint32Array(a.tokens.length + b.tokens.length)
  tokens.set(a.tokens)
  tokens.set(b.tokens, a.tokens.length)
  return { vocabSize: a.vocabSize, seqLen: a.seqLen, count: a.count + b.count, tokens }
}
