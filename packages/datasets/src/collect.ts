/**
 * The text pipeline from documents to distinct sequences: tokenize each
 * document (piece), chunk into exactly `seqLen` tokens within documents, and
 * deduplicate perfectly.
 *
 * Without `shuffle`, the first `want` distinct sequences in reading order are
 * kept and reading stops there (the source's generator is closed, so no
 * further file, line or row group is read). With `shuffle`, the whole corpus
 * is streamed and the `want` distinct sequences of smallest seeded priority
 * are kept (`BottomK`): a reproducible uniform sample in O(want) memory.
 */
import type { Tokenizer } from "@memorize/core"
import { Chunker } from "./chunk.ts"
import { HashSet64, UniqueSequences } from "./dedup.ts"
import { hashSequence } from "./hash.ts"
import { BottomK } from "./sample.ts"
import type { DocumentPiece } from "./sources/document.ts"

export interface CollectOptions {
  readonly tokenizer: Tokenizer
  readonly seqLen: number
  /** How many distinct sequences are needed (members + holdout). */
  readonly want: number
  readonly shuffle: boolean
  readonly seed: number
  readonly signal?: AbortSignal
}

export interface CollectStats {
  readonly documents: number
  readonly tokens: number
  /** Sequences cut from documents, duplicates included. */
  readonly sequences: number
  readonly duplicatesDropped: number
  /** Tokens at document ends too few to fill a sequence. */
  readonly tailTokensDropped: number
  /** Distinct sequences seen (with `shuffle`: in the whole corpus). */
  readonly uniqueSequences: number
  /** Whether the whole corpus was read. */
  readonly exhausted: boolean
}

export interface Collected {
  /** Kept distinct sequences, count × seqLen. */
  readonly tokens: Uint32Array
  readonly count: number
  readonly stats: CollectStats
}

const abortIfAsked = (signal?: AbortSignal) => {
  if (signal?.aborted) throw signal.reason ?? new Error("interrupted")
}

/**
 * Tokenizes documents into `chunker` until they run out or `done()` says
 * enough; returns what was read and whether the source was exhausted.
 */
const feed = async (
  documents: AsyncIterable<DocumentPiece>,
  tokenizer: Tokenizer,
  chunker: Chunker,
  signal: AbortSignal | undefined,
  done: () => boolean = () => false
): Promise<{ readonly documents: number; readonly tokens: number; readonly exhausted: boolean }> => {
  let documentsRead = 0
  let tokens = 0
  for await (const piece of documents) {
    abortIfAsked(signal)
    const ids = tokenizer.encode(piece.text)
    tokens += ids.length
    chunker.push(ids)
    if (piece.last) {
      chunker.endDocument()
      documentsRead++
    }
    if (done()) return { documents: documentsRead, tokens, exhausted: false }
  }
  return { documents: documentsRead, tokens, exhausted: true }
}

export const collectSequences = async (documents: AsyncIterable<DocumentPiece>, options: CollectOptions): Promise<Collected> => {
  const { tokenizer, seqLen, want, shuffle, seed, signal } = options
  if (!shuffle) {
    const unique = new UniqueSequences(seqLen, Math.min(Math.max(16, want), 1 << 20))
    const chunker = new Chunker(seqLen, (s) => {
      if (unique.count < want) unique.add(s)
    })
    const read = await feed(documents, tokenizer, chunker, signal, () => unique.count >= want)
    return {
      tokens: unique.tokens(),
      count: unique.count,
      stats: {
        documents: read.documents,
        tokens: read.tokens,
        sequences: chunker.sequences,
        duplicatesDropped: unique.duplicates,
        tailTokensDropped: chunker.tailTokens,
        uniqueSequences: unique.count,
        exhausted: read.exhausted
      }
    }
  }

  const kept = new BottomK(want, seed)
  const seen = new HashSet64()
  let duplicates = 0
  const chunker = new Chunker(seqLen, (s) => {
    const [h0, h1] = hashSequence(s, 0, seqLen)
    if (!seen.add(h0, h1)) {
      duplicates++
      return
    }
    kept.offer(s, h0, h1)
  })
  const read = await feed(documents, tokenizer, chunker, signal)
  const rows = kept.rows()
  const out = new Uint32Array(rows.length * seqLen)
  rows.forEach((r, i) => out.set(r, i * seqLen))
  return {
    tokens: out,
    count: rows.length,
    stats: {
      documents: read.documents,
      tokens: read.tokens,
      sequences: chunker.sequences,
      duplicatesDropped: duplicates,
      tailTokensDropped: chunker.tailTokens,
      uniqueSequences: seen.size,
      exhausted: read.exhausted
    }
  }
}
