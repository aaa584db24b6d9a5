/**
 * The paper's numbers the report compares against (Morris et al. 2025, "How
 * much do language models memorize?", Table 1 and its fits), and a sentence on how far a set of runs is
 * from the regime they were measured in.
 */
import type { RunResult } from "@memorize/core"
import { formatNumber } from "@memorize/core"

export const PAPER = {
  /** Bits per parameter, GPT-family models trained to saturation. */
  alphaBf16: 3.51,
  alphaFp32: 3.83,
  /** Linear fit over all of the paper's models. */
  alphaAll: 3.64,
  /** Synthetic setup: parameter counts, vocabulary, sequence length, steps. */
  paramsMin: 8.04e4,
  paramsMax: 6.86e6,
  vocab: 2048,
  seqLen: 64,
  steps: 1e6,
  /** Test loss peaks where dataset bits / capacity ≈ 1. */
  doubleDescentPeakRatio: 1,
  /** Loss-based membership inference is at chance from about this many tokens per parameter. */
  chanceTokensPerParameter: 100
} as const

export const paperAlphaText = `${PAPER.alphaBf16} (bf16), ${PAPER.alphaFp32} (fp32); ${PAPER.alphaAll} over all models`

const times = (x: number) => (x >= 10 ? `${Math.round(x).toLocaleString("en-US")}×` : `${x.toFixed(1)}×`)

/**
 * One sentence on where these runs stand against the paper's synthetic
 * regime, or undefined when they are inside it.
 */
export const regimeNote = (results: ReadonlyArray<RunResult>): string | undefined => {
  if (results.length === 0) return undefined
  const params = results.map((r) => r.model.paramCount)
  const maxP = Math.max(...params)
  const minP = Math.min(...params)
  const steps = results.flatMap((r) => (r.train === null || r.train.stopReason === "loaded" ? [] : [r.train.steps]))
  const maxSteps = steps.length === 0 ? undefined : Math.max(...steps)
  const vocabs = [...new Set(results.map((r) => r.dataset.vocabSize))].sort((a, b) => a - b)
  const seqLens = [...new Set(results.map((r) => r.dataset.seqLen))].sort((a, b) => a - b)
  const gaps: Array<string> = []
  if (maxP < PAPER.paramsMin) {
    gaps.push(
      `models of ${formatNumber(minP, 4)}–${formatNumber(maxP, 4)} parameters, ${times(PAPER.paramsMin / maxP)} below the paper's smallest (${formatNumber(PAPER.paramsMin, 3)}; it went to ${formatNumber(PAPER.paramsMax, 3)})`
    )
  }
  if (maxSteps !== undefined && maxSteps < PAPER.steps / 10) {
    gaps.push(
      `at most ${formatNumber(maxSteps, 4)} training steps against the paper's ${formatNumber(PAPER.steps, 2)} (${times(PAPER.steps / maxSteps)} fewer)`
    )
  }
  if (!(vocabs.length === 1 && vocabs[0] === PAPER.vocab && seqLens.length === 1 && seqLens[0] === PAPER.seqLen)) {
    gaps.push(`V = ${vocabs.join(", ")} and S = ${seqLens.join(", ")} (paper: V = ${PAPER.vocab}, S = ${PAPER.seqLen})`)
  }
  if (gaps.length === 0) return undefined
  return `Outside the paper's regime: ${gaps.join("; ")}. At this scale bits per parameter depend on model size, data shape and training length, so they need not match the paper's ${PAPER.alphaBf16}–${PAPER.alphaFp32}; compare the shape of the results (saturation, growth with P, the double-descent peak).`
}
