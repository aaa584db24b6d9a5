/**
 * Arithmetic coding of token sequences under a model, batched over sequences.
 *
 * Every sequence is its own code word (so each has a real compressed size).
 * Both directions make one walk (`walk`): batches of `batch` sequences in
 * order, and in each a stepper (`TrainedModel.nextTokenStepper`, or one over
 * `nextTokenLogits` for a model without it) asked for positions 0…S−1 in
 * order, fed at each the tokens of the position before: the encoder feeds the
 * data, the decoder what it has just decoded, which are the same tokens. So
 * the decoder quantizes exactly the floats the encoder quantized, by
 * construction, whatever the stepper computes; the floats need not equal a
 * full-sequence evaluation's (an incremental pass sums in other orders), only
 * be the same for the same calls. With an incremental pass (either backend's
 * key/value cache) a step costs one row per sequence, so each direction
 * costs about one evaluation plus the coder's own work.
 */
import { Effect } from "effect"
import {
  logitBitsOf,
  ModelError,
  type NextTokenStepper,
  nextTokenStepperOf,
  type QuantizedRows,
  type StepperShape,
  type TokenSequences,
  type TrainedModel
} from "@memorize/core"
import { BitReader } from "./bits.ts"
import { ArithmeticDecoder, ArithmeticEncoder, truncationBound } from "./range-coder.ts"
import { makeStepQuantizer, type StepQuantizer } from "./step-quantize.ts"

/** The part of a model the coder needs: a stepper, or next-token logits to step through. */
export type LogitsSource = Pick<TrainedModel, "nextTokenStepper" | "nextTokenLogits">

export interface CodecOptions {
  /** log2 of the frequency total T. */
  readonly freqBits: number
  /** Sequences per stepper; encoder and decoder must use the same. */
  readonly batch: number
  /** Called after each batch with the number of sequences done so far. */
  readonly onBatch?: (done: number) => void
}

export interface CodeWord {
  readonly bytes: Uint8Array
  readonly bitLength: number
}

export interface Encoded {
  readonly codes: ReadonlyArray<CodeWord>
  /** Σ_t −log2 p(x_t) per sequence, p the softmax of the logits the coder quantized. */
  readonly logitBits: Float64Array
  /** Σ_t −log2(f(x_t)/T) per sequence: the ideal code length under the quantized model. */
  readonly quantizedBits: Float64Array
  /** quantizedBits + Σ_t truncation bound + 2: no code word may be longer (range-coder.ts). */
  readonly boundBits: Float64Array
}

/** The stepper of one batch: the model's own, else one over its nextTokenLogits. */
const stepperOf = (source: LogitsSource, shape: StepperShape): Effect.Effect<NextTokenStepper, ModelError> => {
  if (source.nextTokenStepper !== undefined) return source.nextTokenStepper(shape)
  if (source.nextTokenLogits !== undefined) return Effect.succeed(nextTokenStepperOf(source.nextTokenLogits, shape))
  return Effect.fail(new ModelError({ message: "the model has neither nextTokenStepper nor nextTokenLogits, one of which arithmetic coding needs" }))
}

const logitsAt = (stepper: NextTokenStepper, shape: StepperShape, t: number, previous: Uint32Array, first: number) =>
  Effect.flatMap(stepper.next(t, previous), (logits) =>
    logits.length === shape.count * shape.vocabSize
      ? Effect.succeed(logits)
      : Effect.fail(
          new ModelError({
            message: `the model's stepper at position ${t} returned ${logits.length} values for sequences ${first}…${first + shape.count - 1} (expected ${shape.count} × ${shape.vocabSize})`
          })
        )
  )

/** Runs `each(i)` for the rows of one position. */
const forRows = (n: number, each: (i: number) => void) =>
  Effect.try({
    try: () => {
      for (let i = 0; i < n; i++) each(i)
    },
    catch: (e) => (e instanceof ModelError ? e : new ModelError({ message: String(e) }))
  })

const checkOptions = (o: CodecOptions, vocab: number) =>
  Number.isInteger(o.batch) && o.batch >= 1 && 2 ** o.freqBits > 2 * vocab
    ? Effect.void
    : Effect.fail(new ModelError({ message: `cannot code a vocabulary of ${vocab} with batch ${o.batch} and 2^${o.freqBits} total frequency` }))

/**
 * One batch of a walk: `token(i, t, q, logits)` codes or decodes row i's
 * token at position t from row i of the step's frequencies and returns it;
 * `end` after the last position.
 */
interface BatchCoder {
  readonly token: (i: number, t: number, q: QuantizedRows, logits: Float32Array) => number
  readonly end: () => void
}

/**
 * The walk both directions make (see the header): for every batch a fresh
 * stepper, then per position the logits given the previous tokens, each row
 * quantized and handed to the batch's coder, whose token is fed to the next
 * step. The rows are quantized together (`makeStepQuantizer`): natively
 * where the stepper can, else by the definition.
 */
const walk = (
  source: LogitsSource,
  shape: { readonly count: number; readonly seqLen: number; readonly vocabSize: number },
  options: CodecOptions,
  quantize: StepQuantizer,
  open: (first: number, n: number) => BatchCoder
): Effect.Effect<void, ModelError> =>
  Effect.gen(function* () {
    for (let first = 0; first < shape.count; first += options.batch) {
      const batch: StepperShape = { count: Math.min(options.batch, shape.count - first), seqLen: shape.seqLen, vocabSize: shape.vocabSize }
      const stepper = yield* stepperOf(source, batch)
      const coder = open(first, batch.count)
      const previous = new Uint32Array(batch.count)
      for (let t = 0; t < shape.seqLen; t++) {
        const logits = yield* logitsAt(stepper, batch, t, previous, first)
        const q = yield* quantize(stepper, logits, batch.count, first, t)
        yield* forRows(batch.count, (i) => {
          previous[i] = coder.token(i, t, q, logits)
        })
      }
      coder.end()
      options.onBatch?.(first + batch.count)
    }
  })

/** Codes every sequence of `seqs` under the model. */
export const encodeSequences = (source: LogitsSource, seqs: TokenSequences, options: CodecOptions): Effect.Effect<Encoded, ModelError> =>
  Effect.gen(function* () {
    const S = seqs.seqLen
    yield* checkOptions(options, seqs.vocabSize)
    const V = seqs.vocabSize
    const codes: Array<CodeWord> = new Array(seqs.count)
    const logitBits = new Float64Array(seqs.count)
    const quantizedBits = new Float64Array(seqs.count)
    const boundBits = new Float64Array(seqs.count).fill(2)
    const T = 2 ** options.freqBits
    yield* walk(source, seqs, options, makeStepQuantizer(V, options.freqBits), (first, n) => {
      const encoders = Array.from({ length: n }, () => new ArithmeticEncoder(options.freqBits))
      return {
        token: (i, t, q, logits) => {
          const seq = first + i
          const x = seqs.tokens[seq * S + t]
          const at = i * (V + 1) + x
          const f = q.cum[at + 1] - q.cum[at]
          encoders[i].encode(q.cum[at], f)
          logitBits[seq] += logitBitsOf(q.stats[2 * i], q.stats[2 * i + 1], logits[i * V + x])
          quantizedBits[seq] += Math.log2(T / f)
          boundBits[seq] += truncationBound(f, options.freqBits)
          return x
        },
        end: () => {
          for (let i = 0; i < n; i++) {
            codes[first + i] = encoders[i].finish()
            boundBits[first + i] += quantizedBits[first + i]
          }
        }
      }
    })
    return { codes, logitBits, quantizedBits, boundBits }
  })

/**
 * Decodes `codes` (bit strings: `bytes` read from bit `start`, `bitLength`
 * long) back into `codes.length` sequences of `seqLen` tokens.
 */
export const decodeSequences = (
  source: LogitsSource,
  codes: ReadonlyArray<{ readonly bytes: Uint8Array; readonly start?: number; readonly bitLength: number }>,
  shape: { readonly vocabSize: number; readonly seqLen: number },
  options: CodecOptions
): Effect.Effect<TokenSequences, ModelError> =>
  Effect.gen(function* () {
    const S = shape.seqLen
    yield* checkOptions(options, shape.vocabSize)
    const W = shape.vocabSize + 1
    const count = codes.length
    const tokens = new Uint32Array(count * S)
    yield* walk(source, { count, seqLen: S, vocabSize: shape.vocabSize }, options, makeStepQuantizer(shape.vocabSize, options.freqBits), (first, n) => {
      const decoders = Array.from({ length: n }, (_, i) => {
        const c = codes[first + i]
        return new ArithmeticDecoder(options.freqBits, new BitReader(c.bytes, c.start ?? 0, c.bitLength))
      })
      return {
        token: (i, t, q) => (tokens[(first + i) * S + t] = decoders[i].decode(q.cum.subarray(i * W, i * W + W))),
        end: () => {}
      }
    })
    return { vocabSize: shape.vocabSize, seqLen: S, count, tokens }
  })
