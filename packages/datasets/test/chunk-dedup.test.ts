import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { chunkDocuments, Chunker } from "../src/chunk.ts"
import { countRepeats, dedupSequences, HashSet64, UniqueSequences } from "../src/dedup.ts"
import { hashSequence } from "../src/hash.ts"
import { rowKeys } from "./helpers.ts"

const documents = fc.array(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), { maxLength: 20 })

describe("chunking", () => {
  it("accounts for every token: sequences hold the documents' tokens in order, tails counted", () => {
    fc.assert(
      fc.property(documents, fc.integer({ min: 1, max: 70 }), (docs, S) => {
        const { tokens, count, documentOf, tailTokens } = chunkDocuments(docs, S)
        const total = docs.reduce((n, d) => n + d.length, 0)
        expect(count * S + tailTokens).toBe(total)
        expect(tokens.length).toBe(count * S)
        // Each document's sequences are exactly its first floor(len/S)*S tokens.
        let i = 0
        docs.forEach((doc, d) => {
          const n = Math.floor(doc.length / S)
          for (let k = 0; k < n; k++, i++) {
            expect(documentOf[i]).toBe(d)
            expect(Array.from(tokens.subarray(i * S, (i + 1) * S))).toEqual(doc.slice(k * S, (k + 1) * S))
          }
        })
        expect(i).toBe(count)
      })
    )
  })

  it("no sequence crosses a document: document indices of sequences are non-decreasing and each document yields floor(len/S)", () => {
    fc.assert(
      fc.property(documents, fc.integer({ min: 1, max: 16 }), (docs, S) => {
        const { documentOf } = chunkDocuments(docs, S)
        const perDoc = new Array<number>(docs.length).fill(0)
        for (const d of documentOf) perDoc[d]++
        expect(perDoc).toEqual(docs.map((d) => Math.floor(d.length / S)))
      })
    )
  })

  it("a document pushed in pieces chunks exactly like the whole document", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 300 })),
        fc.integer({ min: 1, max: 20 }),
        (doc, cuts, S) => {
          const whole = chunkDocuments([doc], S)
          const out: Array<number> = []
          const chunker = new Chunker(S, (s) => out.push(...s))
          const points = [...new Set(cuts.map((c) => Math.min(c, doc.length)))].sort((a, b) => a - b)
          let at = 0
          for (const p of [...points, doc.length]) {
            chunker.push(doc.slice(at, p))
            at = p
          }
          chunker.endDocument()
          expect(out).toEqual(Array.from(whole.tokens))
          expect(chunker.tailTokens).toBe(whole.tailTokens)
        }
      )
    )
  })

  it("rejects a non-positive length", () => {
    expect(() => chunkDocuments([[1, 2, 3]], 0)).toThrow(RangeError)
  })
})

const sequenceSets = (S: number) => fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: S, maxLength: S }), { maxLength: 60 })

const asSeqs = (rows: Array<Array<number>>, S: number) => ({ vocabSize: 4, seqLen: S, count: rows.length, tokens: Uint32Array.from(rows.flat()) })

describe("perfect deduplication", () => {
  it("keeps first occurrences in order; the result has no duplicates and the same set", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((S) => sequenceSets(S).map((rows) => [S, rows] as const)),
        ([S, rows]) => {
          const { unique, dropped } = dedupSequences(asSeqs(rows, S))
          const keys = rows.map((r) => r.join(","))
          const firsts = keys.filter((k, i) => keys.indexOf(k) === i)
          expect(rowKeys(unique.tokens, S)).toEqual(firsts)
          expect(dropped).toBe(rows.length - firsts.length)
        }
      )
    )
  })

  it("is idempotent", () => {
    fc.assert(
      fc.property(sequenceSets(3), (rows) => {
        const once = dedupSequences(asSeqs(rows, 3))
        const twice = dedupSequences(once.unique)
        expect(twice.unique.tokens).toEqual(once.unique.tokens)
        expect(twice.dropped).toBe(0)
      })
    )
  })

  it("gives the same set whatever the input order", () => {
    fc.assert(
      fc.property(
        sequenceSets(2).chain((rows) => fc.shuffledSubarray(rows, { minLength: rows.length, maxLength: rows.length }).map((p) => [rows, p] as const)),
        ([rows, permuted]) => {
          const a = dedupSequences(asSeqs(rows, 2))
          const b = dedupSequences(asSeqs(permuted, 2))
          expect(new Set(rowKeys(a.unique.tokens, 2))).toEqual(new Set(rowKeys(b.unique.tokens, 2)))
          expect(a.dropped).toBe(b.dropped)
        }
      )
    )
  })

  it("removes planted duplicates among many distinct sequences (and grows past its initial capacity)", () => {
    const S = 64
    const set = new UniqueSequences(S, 4)
    const base = Array.from({ length: 2000 }, (_, i) => Array.from({ length: S }, (_, j) => (i * 7919 + j * 104729) % 50257))
    for (const r of base) expect(set.add(r)).toBe(true)
    // Plant 300 exact copies and 300 near-copies (one token changed).
    for (let k = 0; k < 300; k++) expect(set.add(base[(k * 13) % 2000])).toBe(false)
    for (let k = 0; k < 300; k++) {
      const near = base[k].slice()
      near[63] = (near[63] + 1) % 50257
      expect(set.add(near)).toBe(true)
    }
    expect(set.count).toBe(2300)
    expect(set.duplicates).toBe(300)
  })

  it("agrees with content equality on every add (small alphabet, many repeats, repeated growth)", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 5, maxLength: 5 }), { maxLength: 80 }), (rows) => {
        const set = new UniqueSequences(5, 2)
        const seen = new Set<string>()
        for (const r of rows) {
          const key = r.join(",")
          expect(set.add(r)).toBe(!seen.has(key))
          seen.add(key)
        }
        expect(set.count).toBe(seen.size)
      })
    )
  })

  it("HashSet64 counts distinct hashes, the all-zero hash included", () => {
    const set = new HashSet64(2)
    expect(set.add(0, 0)).toBe(true)
    expect(set.add(0, 0)).toBe(false)
    // i = 0 is the (0, 0) hash added above.
    for (let i = 0; i < 5000; i++) expect(set.add(i, i * 3)).toBe(i !== 0)
    for (let i = 0; i < 5000; i++) expect(set.add(i, i * 3)).toBe(false)
    expect(set.size).toBe(5000)
  })

  it("hashes depend on every token", () => {
    const a = Uint32Array.from({ length: 64 }, (_, i) => i)
    const h = hashSequence(a, 0, 64)
    for (let i = 0; i < 64; i++) {
      const b = a.slice()
      b[i] ^= 1
      expect(hashSequence(b, 0, 64)).not.toEqual(h)
    }
  })

  it("countRepeats agrees with a naive count within and across parts", () => {
    fc.assert(
      fc.property(sequenceSets(2), sequenceSets(2), (a, b) => {
        const { within, across } = countRepeats([asSeqs(a, 2), asSeqs(b, 2)])
        const keysA = a.map((r) => r.join(","))
        const keysB = b.map((r) => r.join(","))
        const repeatsIn = (keys: Array<string>) => keys.length - new Set(keys).size
        expect(within[0]).toBe(repeatsIn(keysA))
        // Later-part sequences already in part A, plus B's own repeats of sequences not in A.
        const inA = new Set(keysA)
        const acrossNaive = keysB.filter((k) => inA.has(k)).length
        const withinB = repeatsIn(keysB.filter((k) => !inA.has(k)))
        expect(across).toBe(acrossNaive)
        expect(within[1]).toBe(withinB)
      })
    )
  })
})
