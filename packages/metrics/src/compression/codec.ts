/**
 * Arithmetic coding of token sequences under a model, batched over sequences.
 *
 * Every sequence is its own code word (so each has a real compressed size).
 * Both directions walk positions 0…S−1 and, at each, ask the model for the
 * next-token logits of a whole batch in one `nextTokenLogits(batch, t)` call.
 * The decoder's batch holds the tokens decoded so far and zeros after them;
 * the model contract makes the logits at t independent of the tokens at and
 * after t for the same batch size, and both directions cut the sequences
 * into the same batches (`batch`, in order), so the decoder quantizes exactly
 * the floats the encoder quantized. Decoding costs S model calls per batch,
 * as does encoding: the encoder uses the same calls so that it sees the same
 * floats (a full-sequence evaluation may run other kernels).
 */
import { Effect } from "effect"
import { ModelError, type TokenSequences } from "@memorize/core"
import { BitReader } from "./bits.ts"
import { ArithmeticDecoder, ArithmeticEncoder, truncationBound } from "./range-coder.ts"
import { makeQuantizer } from "./quantize.ts"

/** The part of a model the coder needs. */
export interface LogitsSource {
  readonly nextTokenLogits: (seqs: TokenSequences, position: number) => Effect.Effect<Float32Array, ModelError>
}

export interface CodecOptions {
  /** log2 of the frequency total T. */
  readonly freqBits: number
  /** Sequences per model call; encoder and decoder must use the same. */
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

const sliceBatch = (seqs: TokenSequences, start: number, count: number): TokenSequences => ({
  vocabSize: seqs.vocabSize,
  seqLen: seqs.seqLen,
  count,
  tokens: seqs.tokens.subarray(start * seqs.seqLen, (start + count) * seqs.seqLen)
})

const logitsAt = (source: LogitsSource, seqs: TokenSequences, t: number, first: number) =>
  Effect.flatMap(source.nextTokenLogits(seqs, t), (logits) =>
    logits.length === seqs.count * seqs.vocabSize
      ? Effect.succeed(logits)
      : Effect.fail(new ModelError({
        message: `nextTokenLogits at position ${t} returned ${logits.length} values for sequences ${first}…${first + seqs.count - 1} (expected ${seqs.count} × ${seqs.vocabSize})`
      })))

/** Runs `each(i)` for the rows of one position; a bad logits row (NaN, +∞) becomes a ModelError naming it. */
const forRows = (n: number, first: number, t: number, each: (i: number) => void) =>
  Effect.try({
    try: () => {
      for (let i = 0; i < n; i++) {
        try {
          each(i)
        } catch (e) {
          throw new ModelError({ message: `logits of sequence ${first + i} at position ${t}: ${(e as Error).message}` })
        }
      }
    },
    catch: (e) => (e instanceof ModelError ? e : new ModelError({ message: String(e) }))
  })

const checkOptions = (o: CodecOptions, vocab: number) =>
  Number.isInteger(o.batch) && o.batch >= 1 && 2 ** o.freqBits > 2 * vocab
    ? Effect.void
    : Effect.fail(new ModelError({ message: `cannot code a vocabulary of ${vocab} with batch ${o.batch} and 2^${o.freqBits} total frequency` }))

/** Codes every sequence of `seqs` under the model. */
export const encodeSequences = (source: LogitsSource, seqs: TokenSequences, options: CodecOptions): Effect.Effect<Encoded, ModelError> =>
  Effect.gen(function*() {
    const V = seqs.vocabSize
    const S = seqs.seqLen
    yield* checkOptions(options, V)
    const q = makeQuantizer(V, options.freqBits)
    const codes: Array<CodeWord> = new Array(seqs.count)
    const logitBits = new Float64Array(seqs.count)
    const quantizedBits = new Float64Array(seqs.count)
    const boundBits = new Float64Array(seqs.count).fill(2)
    const T = 2 ** options.freqBits
    for (let start = 0; start < seqs.count; start += options.batch) {
      const n = Math.min(options.batch, seqs.count - start)
      const part = sliceBatch(seqs, start, n)
      const encoders = Array.from({ length: n }, () => new ArithmeticEncoder(options.freqBits))
      for (let t = 0; t < S; t++) {
        const logits = yield* logitsAt(source, part, t, start)
        yield* forRows(n, start, t, (i) => {
          q.quantize(logits, i)
          const x = part.tokens[i * S + t]
          let cumLow = 0
          for (let s = 0; s < x; s++) cumLow += q.freq[s]
          const f = q.freq[x]
          encoders[i].encode(cumLow, f)
          const seq = start + i
          logitBits[seq] += q.logitBits(x)
          quantizedBits[seq] += Math.log2(T / f)
          boundBits[seq] += truncationBound(f, options.freqBits)
        })
      }
      for (let i = 0; i < n; i++) {
        codes[start + i] = encoders[i].finish()
        boundBits[start + i] += quantizedBits[start + i]
      }
      options.onBatch?.(start + n)
    }
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
  Effect.gen(function*() {
    const V = shape.vocabSize
    const S = shape.seqLen
    yield* checkOptions(options, V)
    const q = makeQuantizer(V, options.freqBits)
    const count = codes.length
    const tokens = new Uint32Array(count * S)
    const out: TokenSequences = { vocabSize: V, seqLen: S, count, tokens }
    for (let start = 0; start < count; start += options.batch) {
      const n = Math.min(options.batch, count - start)
      // The batch's rows fill in as positions are decoded; zeros stand for the unknown rest.
      const part = sliceBatch(out, start, n)
      const decoders = Array.from({ length: n }, (_, i) => {
        const c = codes[start + i]
        return new ArithmeticDecoder(options.freqBits, new BitReader(c.bytes, c.start ?? 0, c.bitLength))
      })
      for (let t = 0; t < S; t++) {
        const logits = yield* logitsAt(source, part, t, start)
        yield* forRows(n, start, t, (i) => {
          q.quantize(logits, i)
          q.cumulate()
          part.tokens[i * S + t] = decoders[i].decode(q.cum)
        })
      }
      options.onBatch?.(start + n)
    }
    return out
  })
