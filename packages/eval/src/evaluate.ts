/**
 * Eval on a backend: log2 p of every token of every sequence under the model
 * (and the reference), then code lengths, unintended memorization against
 * the reference and loss-threshold membership inference, and a summary.
 *
 * Code lengths follow the project's convention: the first token is counted
 * at log2 V bits (no BOS), every later one at −log2 p(x_t | x_<t). Lines of
 * one length are evaluated together (the model's plans are per length); a
 * model with the position table cut to that length is built per length and
 * released after it, so memory does not grow with the number of lengths.
 */
import { ModelError, type DatasetError } from "@memorize/core"
import { firstPositions, gpt2ParamCount, type Gpt2Weights, type Precision, type WebGpu } from "@memorize/gpu-webgpu"
import { membershipAttack, type MembershipStats, summarizeBits, unintendedMemorization } from "@memorize/metrics"
import { Effect } from "effect"
import { type Device, openGpt2 } from "./gpu.ts"
import type { EvalOptions } from "./options.ts"
import { type PreparedEval, prepareEval } from "./prepare.ts"
import type { TokenFile } from "./tokens.ts"

export interface EvalSet {
  readonly file: string
  readonly lengths: Uint32Array
  /** Code length of each sequence, bits. */
  readonly bits: Float64Array
  /** −log2 p of each token (first token: log2 V), one array per sequence. */
  readonly tokenBits: ReadonlyArray<Float64Array>
  readonly referenceBits?: Float64Array
}

export interface EvalResult {
  readonly members: EvalSet
  readonly holdout?: EvalSet
  readonly summary: Record<string, unknown>
}

/**
 * log2 p of every token of every sequence under `weights` (first token:
 * −log2 V without BOS), grouped by length: one GPU model per length, with
 * its position table cut to that length, released before the next.
 */
const tokenLogProbs = (
  weights: Gpt2Weights,
  file: string,
  sequences: ReadonlyArray<Uint32Array>,
  options: {
    readonly precision: Precision
    readonly bos: boolean
    readonly device: Device
    readonly dataVocab: number
    readonly chunk: number
    readonly step: (n: number) => void
  }
) =>
  Effect.gen(function* () {
    const out: Array<Float64Array> = new Array(sequences.length)
    const byLength = new Map<number, Array<number>>()
    sequences.forEach((s, i) => {
      const group = byLength.get(s.length)
      if (group) group.push(i)
      else byLength.set(s.length, [i])
    })
    const lead = options.bos ? 1 : 0
    for (const L of [...byLength.keys()].sort((a, b) => a - b)) {
      const rows = byLength.get(L)!
      yield* Effect.scoped(
        Effect.gen(function* () {
          const gpu = yield* openGpt2(firstPositions(weights, L + lead), { precision: options.precision, bos: options.bos, device: options.device }).pipe(
            Effect.mapError((e) => (e._tag === "DeviceError" ? new ModelError({ message: `cannot load the checkpoint onto the GPU: ${e.message}`, file }) : e))
          )
          for (let start = 0; start < rows.length; start += options.chunk) {
            const part = rows.slice(start, start + options.chunk)
            const tokens = new Uint32Array(part.length * L)
            part.forEach((r, k) => tokens.set(sequences[r], k * L))
            const lp = yield* gpu
              .tokenLogProbs({ vocabSize: options.dataVocab, seqLen: L, count: part.length, tokens })
              .pipe(Effect.mapError((e) => new ModelError({ message: e.message, file, ...(e.tensor !== undefined ? { tensor: e.tensor } : {}) })))
            part.forEach((r, k) => {
              out[r] = lp.slice(k * L, (k + 1) * L)
            })
            options.step(part.length)
          }
        })
      )
    }
    return out
  })

const codeLength = (lp: Float64Array): number => {
  let s = 0
  for (let t = 0; t < lp.length; t++) s -= lp[t]
  return s
}

const describeModel = (path: string, w: Gpt2Weights) => ({
  path,
  vocabSize: w.shape.vocabSize,
  nPositions: w.shape.nPositions,
  layers: w.shape.layers,
  dModel: w.shape.dModel,
  heads: w.shape.heads,
  activation: w.shape.activation,
  tiedHead: w.shape.tiedHead,
  paramCount: gpt2ParamCount(w.shape)
})

const setSummary = (set: EvalSet) => {
  let tokens = 0
  for (const l of set.lengths) tokens += l
  const s = summarizeBits(set.bits)
  return { file: set.file, ...s, tokens, bitsPerToken: s.totalBits / tokens }
}

/** Evaluates prepared inputs on the GPU: code lengths, memorization, membership inference. */
export const runEval = (prepared: PreparedEval, options: EvalOptions): Effect.Effect<EvalResult, ModelError, WebGpu> =>
  Effect.gen(function* () {
    const precision = options.precision ?? "fp32"
    const bos = options.bos ?? false
    const chunk = options.chunk ?? 256
    const { modelPath, model, refPath, reference, dataVocab, members, holdout } = prepared
    const all = [...members.sequences, ...(holdout?.sequences ?? [])]
    const total = all.length * (reference === undefined ? 1 : 2)
    let done = 0
    const step = (n: number) => {
      done += n
      options.onProgress?.(done, total)
    }
    const common = { precision, bos, device: options.device ?? "auto", dataVocab, chunk, step }
    const lp = yield* tokenLogProbs(model, modelPath, all, common)
    const refLp = reference === undefined ? undefined : yield* tokenLogProbs(reference, refPath!, all, common)

    const makeSet = (f: TokenFile, from: number): EvalSet => {
      const n = f.sequences.length
      const mine = lp.slice(from, from + n)
      return {
        file: f.file,
        lengths: Uint32Array.from(f.sequences, (s) => s.length),
        bits: Float64Array.from(mine, codeLength),
        tokenBits: mine.map((x) => x.map((v) => -v)),
        ...(refLp !== undefined ? { referenceBits: Float64Array.from(refLp.slice(from, from + n), codeLength) } : {})
      }
    }
    // Finite weights can still overflow; a non-finite result is an error, never a null in the output.
    for (const [i, x] of lp.entries()) {
      if (!x.every(Number.isFinite))
        return yield* new ModelError({ message: `the model gives a non-finite log-probability for sequence ${i}`, file: modelPath })
    }
    const memberSet = makeSet(members, 0)
    const holdoutSet = holdout === undefined ? undefined : makeSet(holdout, members.sequences.length)

    const memorizationOf = (set: EvalSet) => {
      const unintended = unintendedMemorization(set.referenceBits!, set.bits)
      return { ...summarizeBits(unintended), codeLength: summarizeBits(set.bits), referenceCodeLength: summarizeBits(set.referenceBits!) }
    }
    const seed = options.seed ?? 0
    const membership: (MembershipStats & { seed: number; calibrationFraction: number }) | null =
      holdoutSet === undefined ? null : { ...membershipAttack(memberSet.bits, holdoutSet.bits, seed, 0.5), seed, calibrationFraction: 0.5 }
    const summary = {
      model: describeModel(modelPath, model),
      precision,
      bos,
      ...setSummary(memberSet),
      holdout: holdoutSet === undefined ? null : setSummary(holdoutSet),
      memorization:
        reference === undefined
          ? null
          : {
              estimate: "reference",
              reference: describeModel(refPath!, reference),
              ...memorizationOf(memberSet),
              holdout: holdoutSet === undefined ? null : memorizationOf(holdoutSet)
            },
      membership
    }
    return { members: memberSet, ...(holdoutSet !== undefined ? { holdout: holdoutSet } : {}), summary }
  })

/** prepareEval, then runEval. */
export const evaluate = (options: EvalOptions): Effect.Effect<EvalResult, ModelError | DatasetError, WebGpu> =>
  Effect.flatMap(prepareEval(options), (prepared) => runEval(prepared, options))
