/**
 * Dataset fingerprint: SHA-256 over a small header (vocab, seqLen, counts)
 * and the train then holdout tokens as little-endian uint32, so two datasets
 * share a fingerprint exactly when they hold the same tokens in the same
 * order and split. Recorded in each run's provenance.
 */
import { createHash } from "node:crypto"
import { endianness } from "node:os"
import type { TokenSequences } from "@memorize/core"

const littleEndianBytes = (tokens: Uint32Array): Uint8Array => {
  if (endianness() === "LE") return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength)
  const out = new Uint8Array(tokens.length * 4)
  const view = new DataView(out.buffer)
  tokens.forEach((t, i) => view.setUint32(i * 4, t, true))
  return out
}

export const fingerprint = (train: TokenSequences, holdout: TokenSequences): string => {
  const hash = createHash("sha256")
  hash.update(`memorize-dataset-v1:${train.vocabSize}:${train.seqLen}:${train.count}:${holdout.count}\n`)
  hash.update(littleEndianBytes(train.tokens))
  hash.update(littleEndianBytes(holdout.tokens))
  return `sha256:${hash.digest("hex")}`
}
