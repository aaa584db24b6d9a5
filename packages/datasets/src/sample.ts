/**
 * Seeded, order-independent selection of sequences.
 *
 * Every distinct sequence x gets a priority: the first two words of
 * Philox4x32-10 with counter (h0(x), h1(x), 2, 0) under the seed's key, where
 * (h0, h1) is the sequence's 64-bit content hash (`hash.ts`). Sorting by
 * priority is then a seeded random permutation that depends only on the
 * sequences' content, not on the order files were read in:
 *  - the member/holdout split takes the first `samples` sequences by priority
 *    as members and the next `holdout` as non-members (disjoint by
 *    construction, since sequences are deduplicated first);
 *  - with `shuffle`, `BottomK` streams the whole corpus and keeps the k
 *    sequences of smallest priority: a uniform sample without replacement of
 *    the distinct sequences, in memory O(k).
 */
import { hashSequence } from "./hash.ts"
import { philox4x32, seedKey } from "./philox.ts"

const PRIORITY_STREAM = 2

export class Priority {
  private readonly k0: number
  private readonly k1: number
  private readonly out = new Uint32Array(4)
  constructor(seed: number) {
    ;[this.k0, this.k1] = seedKey(seed)
  }
  /** The priority of a sequence with content hash (h0, h1), as a 2-word key. */
  of(h0: number, h1: number): readonly [number, number] {
    philox4x32(h0, h1, PRIORITY_STREAM, 0, this.k0, this.k1, this.out)
    return [this.out[0], this.out[1]]
  }
}

const less = (a0: number, a1: number, b0: number, b1: number): boolean => a0 < b0 || (a0 === b0 && a1 < b1)

/**
 * Indices 0..count-1 of the rows of `tokens` (count × seqLen) in priority
 * order (ties, which need equal 64-bit priorities, by index).
 */
export const priorityOrder = (tokens: Uint32Array, count: number, seqLen: number, seed: number): Uint32Array => {
  const p = new Priority(seed)
  const p0 = new Uint32Array(count)
  const p1 = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    const [h0, h1] = hashSequence(tokens, i * seqLen, seqLen)
    const [a, b] = p.of(h0, h1)
    p0[i] = a
    p1[i] = b
  }
  const order = Array.from({ length: count }, (_, i) => i)
  order.sort((i, j) => (p0[i] !== p0[j] ? p0[i] - p0[j] : p1[i] !== p1[j] ? p1[i] - p1[j] : i - j))
  return Uint32Array.from(order)
}

/** Copies the rows `order[from..to)` of `tokens` into a new array. */
export const gatherRows = (tokens: Uint32Array, seqLen: number, order: ArrayLike<number>, from: number, to: number): Uint32Array => {
  const out = new Uint32Array((to - from) * seqLen)
  for (let i = from; i < to; i++) {
    const r = order[i]
    out.set(tokens.subarray(r * seqLen, (r + 1) * seqLen), (i - from) * seqLen)
  }
  return out
}

interface Kept {
  readonly p0: number
  readonly p1: number
  readonly h0: number
  readonly h1: number
  readonly tokens: Uint32Array
}

/**
 * Keeps the k distinct sequences of smallest priority seen so far (a max-heap
 * on priority). Equal sequences have equal priorities, so a repeat of a kept
 * sequence is recognised by content and never kept twice.
 */
export class BottomK {
  readonly k: number
  private readonly heap: Array<Kept> = []
  private readonly byHash = new Map<string, Array<Kept>>()
  private readonly priority: Priority

  constructor(k: number, seed: number) {
    this.k = k
    this.priority = new Priority(seed)
  }

  get size(): number {
    return this.heap.length
  }

  /** Offers a sequence with content hash (h0, h1). */
  offer(tokens: Uint32Array, h0: number, h1: number): void {
    if (this.k === 0) return
    const [p0, p1] = this.priority.of(h0, h1)
    const full = this.heap.length === this.k
    if (full) {
      const top = this.heap[0]
      if (!less(p0, p1, top.p0, top.p1)) return
    }
    const key = `${h0}:${h1}`
    const same = this.byHash.get(key)
    if (same?.some((e) => equal(e.tokens, tokens))) return
    const entry: Kept = { p0, p1, h0, h1, tokens: tokens.slice() }
    if (full) this.replaceTop(entry)
    else this.push(entry)
    if (same) same.push(entry)
    else this.byHash.set(key, [entry])
  }

  /** The kept sequences (any order). */
  rows(): ReadonlyArray<Uint32Array> {
    return this.heap.map((e) => e.tokens)
  }

  private forget(e: Kept): void {
    const key = `${e.h0}:${e.h1}`
    const list = this.byHash.get(key)
    if (!list) return
    const rest = list.filter((x) => x !== e)
    if (rest.length === 0) this.byHash.delete(key)
    else this.byHash.set(key, rest)
  }

  private push(e: Kept): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(h[parent].p0, h[parent].p1, h[i].p0, h[i].p1)) break
      ;[h[parent], h[i]] = [h[i], h[parent]]
      i = parent
    }
  }

  private replaceTop(e: Kept): void {
    const h = this.heap
    this.forget(h[0])
    h[0] = e
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && less(h[m].p0, h[m].p1, h[l].p0, h[l].p1)) m = l
      if (r < h.length && less(h[m].p0, h[m].p1, h[r].p0, h[r].p1)) m = r
      if (m === i) break
      ;[h[m], h[i]] = [h[i], h[m]]
      i = m
    }
  }
}

const equal = (a: Uint32Array, b: Uint32Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
