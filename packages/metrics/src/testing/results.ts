/** Builds `RunResult`s the way core stores them, for law tests and law-plugin authors. */
import type { Json, MetricValues, RunResult } from "@memorize/core"

export interface RunResultOptions {
  readonly runId?: string
  readonly seed?: number
  readonly paramCount: number
  readonly trainCount: number
  readonly holdoutCount?: number
  readonly vocabSize?: number
  readonly seqLen?: number
  /** Exact entropy per sequence; defaults to seqLen·log2 vocabSize (synthetic). null for text. */
  readonly entropyBitsPerSequence?: number | null
  readonly precision?: string
  /** The model plugin's config (layers, dModel, ...). */
  readonly modelConfig?: { readonly [k: string]: Json }
  readonly train?: { readonly [k: string]: Json }
  readonly metrics: { readonly [metric: string]: MetricValues }
}

export const runResult = (o: RunResultOptions): RunResult => {
  const vocabSize = o.vocabSize ?? 2048
  const seqLen = o.seqLen ?? 64
  const seed = o.seed ?? 0
  const modelConfig = o.modelConfig ?? {}
  const precision = o.precision ?? "bf16"
  return {
    runId: o.runId ?? `p${o.paramCount}-n${o.trainCount}-s${seed}-${JSON.stringify(modelConfig)}`,
    experiment: "fixture",
    config: {
      seed,
      dataset: { kind: "synthetic-uniform", vocab: vocabSize, seqLen, samples: o.trainCount },
      model: { kind: "gpt2", ...modelConfig },
      train: { kind: "fixture", precision, ...(o.train ?? {}) }
    },
    model: { kind: "gpt2", paramCount: o.paramCount, vocabSize, seqLen, precision, config: modelConfig },
    dataset: {
      kind: "synthetic-uniform",
      trainCount: o.trainCount,
      holdoutCount: o.holdoutCount ?? o.trainCount,
      vocabSize,
      seqLen,
      entropyBitsPerSequence: o.entropyBitsPerSequence === undefined ? seqLen * Math.log2(vocabSize) : o.entropyBitsPerSequence,
      fingerprint: "fixture",
      stats: {}
    },
    train: null,
    metrics: o.metrics,
    provenance: {}
  }
}
