/**
 * Whole-file compression and decompression of token sequences of any
 * lengths (the `compress` / `decompress` commands). Sequences are grouped by
 * length (ascending), each group coded in file order through a model opened
 * for that length; the decoder rebuilds the same groups from the index, so
 * both sides make the same model calls. The decoded tokens are checked
 * against the hash of the originals stored in the header: a model that
 * evaluates differently than at compression time (another backend or
 * precision) is named, not trusted.
 */
import { Effect, type Scope } from "effect"
import { type DatasetError, ModelError } from "@memorize/core"
import { decodeSequences, encodeSequences, type LogitsSource } from "./codec.ts"
import { type CompressedHeader, FORMAT_VERSION, readCompressed, tokensHash, writeCompressed } from "./format.ts"

/** Opens the model for sequences of `length` tokens (resources in the scope, released after the group). */
export type SourceFor<E, R> = (length: number) => Effect.Effect<LogitsSource, E, R | Scope.Scope>

export interface CompressSettings {
  readonly vocab: number
  /** SHA-256 (hex) of the model weights. */
  readonly modelHash: string
  readonly precision: string
  /** What evaluated the model ("webgpu", "cpu"...): another backend may compute other floats. */
  readonly backend: string
  readonly bos: boolean
  readonly freqBits: number
  readonly batch: number
  readonly onProgress?: (done: number, total: number) => void
}

export interface CompressStats {
  readonly count: number
  readonly tokens: number
  /** Code word length of each sequence, bits. */
  readonly bits: Float64Array
  /** Σ −log2 p from the logits the coder saw, per sequence. */
  readonly logitBits: Float64Array
  /** Σ −log2 of the quantized probabilities, per sequence. */
  readonly quantizedBits: Float64Array
  /** The bound no code word exceeds, per sequence. */
  readonly boundBits: Float64Array
}

/** Indices of `lengths` grouped by value, groups in ascending length, members in order. */
const groupsByLength = (lengths: ArrayLike<number>): ReadonlyArray<readonly [number, ReadonlyArray<number>]> => {
  const groups = new Map<number, Array<number>>()
  for (let i = 0; i < lengths.length; i++) {
    const g = groups.get(lengths[i])
    if (g) g.push(i)
    else groups.set(lengths[i], [i])
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0])
}

export const compressSequences = <E, R>(
  sequences: ReadonlyArray<Uint32Array>,
  settings: CompressSettings,
  sourceFor: SourceFor<E, R>
): Effect.Effect<{ readonly bytes: Uint8Array; readonly stats: CompressStats }, ModelError | E, R> =>
  Effect.gen(function* () {
    const n = sequences.length
    const lengths = Uint32Array.from(sequences, (s) => s.length)
    const codes: Array<{ bytes: Uint8Array; bitLength: number }> = new Array(n)
    const stats = {
      count: n,
      tokens: lengths.reduce((a, b) => a + b, 0),
      bits: new Float64Array(n),
      logitBits: new Float64Array(n),
      quantizedBits: new Float64Array(n),
      boundBits: new Float64Array(n)
    }
    let done = 0
    for (const [L, rows] of groupsByLength(lengths)) {
      const tokens = new Uint32Array(rows.length * L)
      rows.forEach((r, k) => tokens.set(sequences[r], k * L))
      const encoded = yield* Effect.scoped(
        Effect.flatMap(sourceFor(L), (source) =>
          encodeSequences(
            source,
            { vocabSize: settings.vocab, seqLen: L, count: rows.length, tokens },
            {
              freqBits: settings.freqBits,
              batch: settings.batch,
              onBatch: (k) => settings.onProgress?.(done + k, n)
            }
          )
        )
      )
      rows.forEach((r, k) => {
        codes[r] = encoded.codes[k]
        stats.bits[r] = encoded.codes[k].bitLength
        stats.logitBits[r] = encoded.logitBits[k]
        stats.quantizedBits[r] = encoded.quantizedBits[k]
        stats.boundBits[r] = encoded.boundBits[k]
      })
      done += rows.length
    }
    const header: CompressedHeader = {
      version: FORMAT_VERSION,
      freqBits: settings.freqBits,
      bos: settings.bos,
      precision: settings.precision,
      backend: settings.backend,
      count: n,
      seqLen: lengths.reduce((a, b) => Math.max(a, b), 0),
      vocab: settings.vocab,
      batch: settings.batch,
      modelHash: settings.modelHash,
      tokensHash: tokensHash(sequences)
    }
    return { bytes: writeCompressed(header, lengths, codes), stats }
  })

/** Reads the header only (checked), e.g. to learn the precision and BOS setting before opening the model. */
export const readHeader = (bytes: Uint8Array, file: string): Effect.Effect<CompressedHeader, DatasetError> =>
  Effect.map(readCompressed(bytes, file), (f) => f.header)

export const decompressSequences = <E, R>(
  bytes: Uint8Array,
  file: string,
  model: { readonly hash: string; readonly path: string; readonly vocab: number },
  sourceFor: SourceFor<E, R>,
  onProgress?: (done: number, total: number) => void
): Effect.Effect<{ readonly header: CompressedHeader; readonly sequences: ReadonlyArray<Uint32Array> }, DatasetError | ModelError | E, R> =>
  Effect.gen(function* () {
    const f = yield* readCompressed(bytes, file)
    const h = f.header
    if (h.modelHash !== model.hash) {
      return yield* new ModelError({
        message: `these weights hash to ${model.hash.slice(0, 16)}…, but ${file} was compressed with a model whose weights hash to ${h.modelHash.slice(0, 16)}…: decompress with the same checkpoint`,
        file: model.path
      })
    }
    if (h.vocab !== model.vocab) {
      return yield* new ModelError({ message: `the model's data vocabulary is ${model.vocab}, ${file} was coded over ${h.vocab}`, file: model.path })
    }
    const out: Array<Uint32Array> = new Array(h.count)
    let done = 0
    for (const [L, rows] of groupsByLength(f.lengths)) {
      const codes = rows.map((r) => ({ bytes: f.payload, start: f.starts[r], bitLength: f.bitLengths[r] }))
      const decoded = yield* Effect.scoped(
        Effect.flatMap(sourceFor(L), (source) =>
          decodeSequences(
            source,
            codes,
            { vocabSize: h.vocab, seqLen: L },
            {
              freqBits: h.freqBits,
              batch: h.batch,
              onBatch: (k) => onProgress?.(done + k, h.count)
            }
          )
        )
      )
      rows.forEach((r, k) => {
        out[r] = decoded.tokens.slice(k * L, (k + 1) * L)
      })
      done += rows.length
    }
    const got = tokensHash(out)
    if (got !== h.tokensHash) {
      return yield* new ModelError({
        message: `the decoded sequences hash to ${got.slice(0, 16)}…, the originals to ${h.tokensHash.slice(0, 16)}…: the model computed other logits than at compression (${h.backend}, ${h.precision}; same weights, so another backend, precision or kernels?)`,
        file: model.path
      })
    }
    return { header: h, sequences: out }
  })
