/**
 * The evaluation methods of a TrainedModel (code lengths, per-token log-probs,
 * next-token logits, a next-token stepper, greedy generation) for any backend
 * that can run the GPT-2 schedule on a batch: the BOS convention, batching,
 * argument checks and bookkeeping live here once, the arithmetic in the
 * backend. The backend's incremental pass (`decoder`: cached keys and
 * values, one row per sequence and position) serves the stepper and greedy
 * generation.
 *
 * First token: without BOS it cannot be predicted and is counted at log2 V
 * bits (V the data's vocabulary); `bos: true` adds a BOS token (id V, model
 * vocabulary V+1) and every token is predicted.
 */
import { type DeviceError, ModelError, type NextTokenStepper, type QuantizedRows, type StepperShape, stepProblem, type TokenSequences } from "@memorize/core"
import { Effect } from "effect"
import type { Precision } from "../kernels/common.ts"
import { fillBatch } from "./batch.ts"
import type { Gpt2Shape, Gpt2Weights } from "./weights.ts"

/** What a backend runs for a batch of B rows of T model positions (tokens row-major, B × T). */
export interface BatchBackend {
  /** Largest micro-batch of T-position rows the backend holds at once. */
  readonly maxMicroBatch: (T: number) => number
  /** log2 p of each position's target (0 where there is none): B × T. */
  readonly logProbs: (B: number, T: number, tokens: Uint32Array, targets: Uint32Array) => Effect.Effect<Float32Array, ModelError>
  /** The logits at position `pos` of every row: B × vocabSize (the model's). */
  readonly logitsAt: (B: number, T: number, tokens: Uint32Array, pos: number) => Effect.Effect<Float32Array, ModelError>
  /** The incremental pass over B rows of at most T positions (the stepper and greedy generation run on it). */
  readonly decoder: (B: number, T: number) => Effect.Effect<BatchDecoder, ModelError>
  /**
   * Optional: the coder's frequencies of `rows` rows of `vocab` logits into
   * `cum` (rows × (vocab + 1)) and `stats` (rows × 2), bit for bit those of
   * core's quantize.ts (`QuantizedRows`); returns −1 or the first refused row.
   */
  readonly quantize?: (logits: Float32Array, rows: number, vocab: number, freqBits: number, cum: Int32Array, stats: Float64Array) => number
}

/**
 * An incremental pass: `step` feeds the B tokens of the next model position
 * (0, 1, … in order), keeps that position's keys and values, and returns its
 * logits, B × vocabSize (the model's), which the next step may overwrite.
 */
export interface BatchDecoder {
  readonly step: (tokens: Uint32Array) => Effect.Effect<Float32Array, ModelError>
}

/**
 * What is wrong with feeding `tokens` at model position `pos` to a decoder of
 * B rows, T positions and vocabulary V (undefined when nothing). Checked
 * before the tokens reach a kernel: the embedding indexes its table with
 * them, unchecked, on both backends.
 */
export const feedProblem = (B: number, T: number, V: number, pos: number, tokens: Uint32Array): string | undefined => {
  if (pos >= T) return `incremental pass: all ${T} positions are fed`
  if (tokens.length !== B || tokens.some((t) => t >= V))
    return `incremental pass: ${tokens.length} tokens for ${B} rows, or an id outside the vocabulary of ${V}`
  return undefined
}

export interface Gpt2Evaluation {
  readonly codeLengths: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  readonly tokenLogProbs: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  readonly nextTokenLogits: (seqs: TokenSequences, position: number) => Effect.Effect<Float32Array, ModelError>
  readonly nextTokenStepper: (shape: StepperShape) => Effect.Effect<NextTokenStepper, ModelError>
  readonly generate: (prefixes: TokenSequences, length: number) => Effect.Effect<Uint32Array, ModelError>
}

/** A GPT-2 on some backend, with the evaluation methods of a TrainedModel. */
export interface Gpt2Model extends Gpt2Evaluation {
  readonly shape: Gpt2Shape
  readonly precision: Precision
  readonly bos: boolean
  /** The data's vocabulary (the model's, less the BOS token). */
  readonly dataVocab: number
  readonly paramCount: number
  readonly exportWeights: () => Effect.Effect<Gpt2Weights, DeviceError | ModelError>
}

/** At most this many rows per evaluation batch. */
const EVAL_BATCH = 256

export const gpt2Evaluation = (shape: Gpt2Shape, bos: boolean, backend: BatchBackend): Gpt2Evaluation => {
  const lead = bos ? 1 : 0
  const dataVocab = bos ? shape.vocabSize - 1 : shape.vocabSize
  const evalBatch = (T: number, count: number) => Math.max(1, Math.min(backend.maxMicroBatch(T), EVAL_BATCH, count))

  const checkSeqs = (seqs: Pick<TokenSequences, "seqLen" | "vocabSize">, what: string): Effect.Effect<void, ModelError> => {
    if (seqs.seqLen + lead > shape.nPositions)
      return Effect.fail(
        new ModelError({ message: `${what}: sequences of ${seqs.seqLen} tokens${bos ? " + BOS" : ""} exceed the model's ${shape.nPositions} positions` })
      )
    if (seqs.vocabSize > dataVocab) return Effect.fail(new ModelError({ message: `${what}: vocabulary ${seqs.vocabSize} exceeds the model's ${dataVocab}` }))
    return Effect.void
  }

  /** Model-position tokens (and targets) of sequences [start, start + B) of `seqs`, padded to B rows. */
  const batchOf = (seqs: TokenSequences, start: number, B: number) => {
    const rows = Array.from({ length: Math.min(B, seqs.count - start) }, (_, i) => start + i)
    return { rows, ...fillBatch(seqs.tokens, seqs.seqLen, rows, B, bos ? dataVocab : undefined) }
  }

  /** log2 p of each position's target, [count, T] in model positions. */
  const logProbsRaw = (seqs: TokenSequences) =>
    Effect.gen(function* () {
      const T = seqs.seqLen + lead
      const out = new Float32Array(seqs.count * T)
      const B = evalBatch(T, seqs.count)
      for (let start = 0; start < seqs.count; start += B) {
        const b = batchOf(seqs, start, B)
        const lp = yield* backend.logProbs(B, T, b.tokens, b.targets)
        out.set(lp.subarray(0, b.rows.length * T), start * T)
      }
      return out
    })

  const tokenLogProbs = (seqs: TokenSequences) =>
    Effect.gen(function* () {
      yield* checkSeqs(seqs, "tokenLogProbs")
      const S = seqs.seqLen
      const T = S + lead
      const raw = yield* logProbsRaw(seqs)
      const out = new Float64Array(seqs.count * S)
      // Without BOS the first token is unpredictable: uniform over the data's V.
      const uniform = -Math.log2(seqs.vocabSize)
      for (let b = 0; b < seqs.count; b++) {
        if (bos) for (let t = 0; t < S; t++) out[b * S + t] = raw[b * T + t]
        else {
          out[b * S] = uniform
          for (let t = 1; t < S; t++) out[b * S + t] = raw[b * T + t - 1]
        }
      }
      return out
    })

  const codeLengths = (seqs: TokenSequences) =>
    Effect.map(tokenLogProbs(seqs), (lp) => {
      const S = seqs.seqLen
      const out = new Float64Array(seqs.count)
      for (let b = 0; b < seqs.count; b++) {
        let s = 0
        for (let t = 0; t < S; t++) s -= lp[b * S + t]
        out[b] = s
      }
      return out
    })

  const V = shape.vocabSize
  /** Rows [0, n) of a backend's logits (B × V) into `out` from row `first` on, the first W of each row. */
  const copyRows = (logits: Float32Array, n: number, W: number, out: Float32Array, first: number) => {
    for (let r = 0; r < n; r++) out.set(logits.subarray(r * V, r * V + W), (first + r) * W)
  }

  const nextTokenLogits = (seqs: TokenSequences, position: number) =>
    Effect.gen(function* () {
      yield* checkSeqs(seqs, "nextTokenLogits")
      if (!Number.isInteger(position) || position < 0 || position >= seqs.seqLen)
        return yield* Effect.fail(new ModelError({ message: `nextTokenLogits: position ${position} is outside the sequences' 0..${seqs.seqLen - 1}` }))
      const out = new Float32Array(seqs.count * seqs.vocabSize)
      // Without BOS nothing predicts the first token: zeros (uniform).
      if (!bos && position === 0) return out
      const T = seqs.seqLen + lead
      // Model position that predicts data position `position`.
      const pos = position + lead - 1
      const B = evalBatch(T, seqs.count)
      for (let start = 0; start < seqs.count; start += B) {
        const b = batchOf(seqs, start, B)
        copyRows(yield* backend.logitsAt(B, T, b.tokens, pos), b.rows.length, seqs.vocabSize, out, start)
      }
      return out
    })

  /** A stepper with the backend's native quantizer, when it has one (`NextTokenStepper.quantize`); its buffers are reused step after step. */
  const withQuantize = (sh: StepperShape, stepper: NextTokenStepper): NextTokenStepper => {
    const rowsQuantizer = backend.quantize
    if (rowsQuantizer === undefined) return stepper
    const cum = new Int32Array(sh.count * (sh.vocabSize + 1))
    const stats = new Float64Array(sh.count * 2)
    return {
      next: stepper.next,
      quantize: (logits, freqBits): QuantizedRows => ({ cum, stats, refused: rowsQuantizer(logits, sh.count, sh.vocabSize, freqBits, cum, stats) })
    }
  }

  /**
   * With the backend's incremental pass: the model position that predicts
   * data position t is fed BOS (t = 0) or the token at t − 1, so each step
   * costs one row per sequence.
   */
  const nextTokenStepper = (sh: StepperShape) =>
    Effect.gen(function* () {
      yield* checkSeqs(sh, "nextTokenStepper")
      const makeDecoder = backend.decoder
      // Model positions fed: BOS, then every token but the last.
      const T = sh.seqLen + lead - 1
      const B = evalBatch(Math.max(1, T), sh.count)
      const parts: Array<{ readonly start: number; readonly n: number; readonly decoder: BatchDecoder }> = []
      for (let start = 0; T > 0 && start < sh.count; start += B) {
        const n = Math.min(B, sh.count - start)
        parts.push({ start, n, decoder: yield* makeDecoder(n, T) })
      }
      const bosRow = new Uint32Array(B).fill(dataVocab)
      let expected = 0
      const stepper: NextTokenStepper = {
        next: (position, previous) =>
          Effect.gen(function* () {
            const problem = stepProblem(sh, expected, position, previous)
            if (problem !== undefined) return yield* Effect.fail(new ModelError({ message: problem }))
            expected++
            if (!bos && position === 0) return new Float32Array(sh.count * sh.vocabSize)
            const fed = (p: (typeof parts)[number]) => (position === 0 ? bosRow.subarray(0, p.n) : previous.subarray(p.start, p.start + p.n))
            // One decoder whose rows are as wide as the data's: its logits are the answer, valid until the next step (no copy: V floats per row and step).
            if (parts.length === 1 && sh.vocabSize === V) return yield* parts[0].decoder.step(fed(parts[0]))
            const out = new Float32Array(sh.count * sh.vocabSize)
            for (const p of parts) copyRows(yield* p.decoder.step(fed(p)), p.n, sh.vocabSize, out, p.start)
            return out
          })
      }
      return withQuantize(sh, stepper)
    })

  /** Greedy continuation through the incremental pass: BOS and the prefix fed position by position, then each chosen token. */
  const generateStepping = (makeDecoder: BatchBackend["decoder"], prefixes: TokenSequences, length: number, out: Uint32Array) =>
    Effect.gen(function* () {
      const P = prefixes.seqLen
      const T = lead + P + length - 1
      const B = evalBatch(T, prefixes.count)
      for (let start = 0; start < prefixes.count; start += B) {
        const n = Math.min(B, prefixes.count - start)
        const decoder = yield* makeDecoder(n, T)
        const fed = new Uint32Array(n)
        let logits: Float32Array = new Float32Array(0)
        for (let pos = 0; pos < lead + P; pos++) {
          for (let b = 0; b < n; b++) fed[b] = pos < lead ? dataVocab : prefixes.tokens[(start + b) * P + pos - lead]
          logits = yield* decoder.step(fed)
        }
        for (let k = 0; k < length; k++) {
          if (k > 0) logits = yield* decoder.step(fed)
          argmaxRows(logits, n, V, dataVocab, fed)
          for (let b = 0; b < n; b++) out[(start + b) * length + k] = fed[b]
        }
      }
      return out
    })

  const generate = (prefixes: TokenSequences, length: number) =>
    Effect.gen(function* () {
      const T = shape.nPositions
      const P = prefixes.seqLen
      if (prefixes.vocabSize > dataVocab)
        return yield* Effect.fail(new ModelError({ message: `generate: vocabulary ${prefixes.vocabSize} exceeds the model's ${dataVocab}` }))
      if (P + lead < 1 || length < 0 || P + lead + length - 1 > T)
        return yield* Effect.fail(
          new ModelError({ message: `generate: prefix ${P} + ${length} new tokens${bos ? " + BOS" : ""} does not fit the model's ${T} positions` })
        )
      const out = new Uint32Array(prefixes.count * length)
      if (length === 0 || prefixes.count === 0) return out
      return yield* generateStepping(backend.decoder, prefixes, length, out)
    })

  return { codeLengths, tokenLogProbs, nextTokenLogits, nextTokenStepper, generate }
}

/** For each of n rows of `logits` (rows of `stride` floats): the index of the first maximum among the first V, into `out`. */
export const argmaxRows = (logits: Float32Array, n: number, stride: number, V: number, out: Uint32Array): Uint32Array => {
  for (let b = 0; b < n; b++) {
    const at = b * stride
    let best = 0
    for (let v = 1; v < V; v++) if (logits[at + v] > logits[at + best]) best = v
    out[b] = best
  }
  return out
}
