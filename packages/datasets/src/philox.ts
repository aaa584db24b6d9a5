/**
 * Counter-based randomness of the datasets: Philox4x32-10 (shared with the
 * GPU package's initialisation; its definition and documentation live in
 * core) plus exact-uniform rejection sampling and word streams.
 */
import { philox4x32 } from "@memorize/core"

export { philox4x32 }

/**
 * The largest multiple of n not above `range` (2^32 for 32-bit words): words
 * in [0, limit) are accepted and reduced mod n, each residue then coming from
 * exactly limit / n words, so the result is exactly uniform.
 */
export const rejectionLimit = (n: number, range = 0x1_0000_0000): number => n * Math.floor(range / n)

/** Splits a non-negative safe integer seed into the two 32-bit key words. */
export const seedKey = (seed: number): readonly [number, number] => {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`)
  return [(seed % 0x1_0000_0000) >>> 0, Math.floor(seed / 0x1_0000_0000) >>> 0]
}

/**
 * The stream of 32-bit words for one (seed, stream, index) triple: block b of
 * the stream is Philox4x32-10 of counter (b, index, stream, 0) under the seed's
 * key, its four words taken in order. `index` is a sequence number (< 2^32).
 */
export class WordStream {
  private readonly stream: number
  private readonly index: number
  private readonly block = new Uint32Array(4)
  private blockIndex = 0
  private used = 4
  private readonly k0: number
  private readonly k1: number

  constructor(seed: number, stream: number, index: number) {
    this.stream = stream
    this.index = index
    ;[this.k0, this.k1] = seedKey(seed)
  }

  next(): number {
    if (this.used === 4) {
      philox4x32(this.blockIndex, this.index, this.stream, 0, this.k0, this.k1, this.block)
      this.blockIndex++
      this.used = 0
    }
    return this.block[this.used++]
  }

  /**
   * A uniform integer in [0, n), n ≤ 2^32, exactly: words at or above the
   * largest multiple of n below 2^32 are rejected (no modulo bias), the rest
   * reduced mod n.
   */
  below(n: number): number {
    const limit = rejectionLimit(n)
    for (;;) {
      const w = this.next()
      if (w < limit) return w % n
    }
  }
}
