/**
 * Perfect deduplication of token sequences: a sequence is a duplicate only
 * when all its tokens equal an earlier one's. The 64-bit hash of the whole
 * sequence finds candidates; equality is confirmed on the stored content, so
 * a hash collision can never drop a distinct sequence.
 */
import type { TokenSequences } from "@memorize/core"
import { hashSequence } from "./hash.ts"

/**
 * A growable set of distinct sequences of one length, in first-seen order.
 * Open addressing over the hash's first word, linear probing; slots hold the
 * sequence's index + 1 (0 = empty).
 */
export class UniqueSequences {
  readonly seqLen: number
  private data: Uint32Array
  private slots: Uint32Array
  private hashes: Uint32Array
  count = 0
  duplicates = 0

  constructor(seqLen: number, capacity = 1024) {
    this.seqLen = seqLen
    this.data = new Uint32Array(Math.max(1, capacity) * seqLen)
    this.hashes = new Uint32Array(Math.max(1, capacity))
    this.slots = new Uint32Array(UniqueSequences.tableSize(capacity))
  }

  private static tableSize(capacity: number): number {
    let n = 16
    while (n < capacity * 2) n *= 2
    return n
  }

  /** Adds tokens[offset, offset+seqLen); false (and counted) when already present. */
  add(tokens: ArrayLike<number>, offset = 0): boolean {
    const S = this.seqLen
    const [h] = hashSequence(tokens, offset, S)
    const mask = this.slots.length - 1
    let slot = h & mask
    for (;;) {
      const entry = this.slots[slot]
      if (entry === 0) break
      const idx = entry - 1
      if (this.hashes[idx] === h && this.equals(idx, tokens, offset)) {
        this.duplicates++
        return false
      }
      slot = (slot + 1) & mask
    }
    if (this.count * S + S > this.data.length) this.grow()
    const idx = this.count++
    for (let i = 0; i < S; i++) this.data[idx * S + i] = tokens[offset + i]
    this.hashes[idx] = h
    // The table may have been rebuilt by grow(): probe again for a free slot.
    this.insertSlot(idx, h)
    return true
  }

  private equals(idx: number, tokens: ArrayLike<number>, offset: number): boolean {
    const S = this.seqLen
    const base = idx * S
    for (let i = 0; i < S; i++) if (this.data[base + i] !== tokens[offset + i]) return false
    return true
  }

  private insertSlot(idx: number, h: number): void {
    const mask = this.slots.length - 1
    let slot = h & mask
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask
    this.slots[slot] = idx + 1
  }

  private grow(): void {
    const capacity = Math.max(2, this.hashes.length * 2)
    const data = new Uint32Array(capacity * this.seqLen)
    data.set(this.data.subarray(0, this.count * this.seqLen))
    this.data = data
    const hashes = new Uint32Array(capacity)
    hashes.set(this.hashes.subarray(0, this.count))
    this.hashes = hashes
    this.slots = new Uint32Array(UniqueSequences.tableSize(capacity))
    for (let i = 0; i < this.count; i++) this.insertSlot(i, this.hashes[i])
  }

  /** The distinct sequences, row-major (a copy). */
  tokens(): Uint32Array {
    return this.data.slice(0, this.count * this.seqLen)
  }

  /** Row `i` (a view, valid until the next add). */
  row(i: number): Uint32Array {
    return this.data.subarray(i * this.seqLen, (i + 1) * this.seqLen)
  }
}

/**
 * A set of 64-bit hashes (no content), to count duplicates over a stream too
 * large to keep. Two equal hashes of distinct sequences (probability about
 * n²/2^65 for n sequences) would count one false duplicate.
 */
export class HashSet64 {
  private table: Uint32Array
  size = 0

  constructor(capacity = 1024) {
    let n = 16
    while (n < capacity * 2) n *= 2
    this.table = new Uint32Array(n * 2)
  }

  /** Adds the hash; false when it was already present. */
  add(h0: number, h1: number): boolean {
    // (0, 0) marks an empty slot; map that one hash value to (0, 1).
    if (h0 === 0 && h1 === 0) h1 = 1
    if ((this.size + 1) * 2 > this.table.length / 2) this.rehash()
    const slots = this.table.length / 2
    const mask = slots - 1
    let s = (h0 ^ Math.imul(h1, 0x9e3779b1)) & mask
    for (;;) {
      const a = this.table[2 * s]
      const b = this.table[2 * s + 1]
      if (a === 0 && b === 0) {
        this.table[2 * s] = h0
        this.table[2 * s + 1] = h1
        this.size++
        return true
      }
      if (a === h0 && b === h1) return false
      s = (s + 1) & mask
    }
  }

  private rehash(): void {
    const old = this.table
    this.table = new Uint32Array(old.length * 2)
    this.size = 0
    for (let s = 0; s < old.length / 2; s++) {
      const a = old[2 * s]
      const b = old[2 * s + 1]
      if (a !== 0 || b !== 0) this.add(a, b)
    }
  }
}

/** Keeps the first occurrence of every distinct sequence, in order. */
export const dedupSequences = (seqs: TokenSequences): { readonly unique: TokenSequences; readonly dropped: number } => {
  const set = new UniqueSequences(seqs.seqLen, Math.max(16, seqs.count))
  for (let i = 0; i < seqs.count; i++) set.add(seqs.tokens, i * seqs.seqLen)
  return {
    unique: { vocabSize: seqs.vocabSize, seqLen: seqs.seqLen, count: set.count, tokens: set.tokens() },
    dropped: set.duplicates
  }
}

/**
 * Counts repeated sequences across several sequence sets without copying
 * them (about 12 bytes per sequence): `within[p]` is the number of sequences
 * of part p equal to an earlier one of the same part, `across` the number of
 * sequences of later parts equal to a sequence of an earlier part (and not
 * already counted within their own part). Equality is on content.
 */
export const countRepeats = (parts: ReadonlyArray<TokenSequences>): { readonly within: ReadonlyArray<number>; readonly across: number } => {
  const S = parts[0]?.seqLen ?? 1
  const total = parts.reduce((n, p) => n + p.count, 0)
  let size = 16
  while (size < total * 2) size *= 2
  const slots = new Uint32Array(size)
  const hashes = new Uint32Array(total)
  const partOf = new Uint32Array(total)
  const rowOf = new Uint32Array(total)
  const within = parts.map(() => 0)
  let across = 0
  let next = 0
  parts.forEach((part, p) => {
    for (let r = 0; r < part.count; r++) {
      const [h] = hashSequence(part.tokens, r * S, S)
      let slot = h & (size - 1)
      let match = -1
      while (slots[slot] !== 0) {
        const idx = slots[slot] - 1
        if (hashes[idx] === h && sameRow(parts[partOf[idx]].tokens, rowOf[idx] * S, part.tokens, r * S, S)) {
          match = idx
          break
        }
        slot = (slot + 1) & (size - 1)
      }
      if (match >= 0) {
        if (partOf[match] === p) within[p]++
        else across++
        continue
      }
      hashes[next] = h
      partOf[next] = p
      rowOf[next] = r
      slots[slot] = ++next
    }
  })
  return { within, across }
}

const sameRow = (a: Uint32Array, ai: number, b: Uint32Array, bi: number, S: number): boolean => {
  for (let i = 0; i < S; i++) if (a[ai + i] !== b[bi + i]) return false
  return true
}
