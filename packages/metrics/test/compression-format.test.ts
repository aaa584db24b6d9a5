import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { createHash } from "node:crypto"
import fc from "fast-check"
import { DatasetError, ModelError } from "@memorize/core"
import { compressSequences, decompressSequences, HEADER_BYTES, readCompressed, type SourceFor } from "../src/compression/index.ts"
import { logProbTableArb, tableModel } from "../src/testing/index.ts"

const HASH_A = "a".repeat(64)
const HASH_B = "b".repeat(64)

const sourceFor =
  (V: number, table: Float64Array): SourceFor<never, never> =>
  (L) =>
    Effect.succeed(tableModel({ vocabSize: V, seqLen: L, table }))

const seqsArb = (V: number) =>
  fc.array(
    fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: 9 }).map((a) => Uint32Array.from(a)),
    { minLength: 1, maxLength: 12 }
  )

const settings = (V: number, batch: number) => ({ vocab: V, modelHash: HASH_A, precision: "fp32", backend: "test", bos: false, freqBits: 20, batch })

const compress = (V: number, table: Float64Array, seqs: ReadonlyArray<Uint32Array>, batch = 3) =>
  Effect.runSync(compressSequences(seqs, settings(V, batch), sourceFor(V, table)))

const model = (V: number, hash = HASH_A) => ({ hash, path: "model-dir", vocab: V })

describe("compressed files", () => {
  it("round-trip sequences of mixed lengths exactly, and the header records the settings", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }).chain((V) => fc.tuple(fc.constant(V), logProbTableArb(V), seqsArb(V), fc.integer({ min: 1, max: 5 }))),
        ([V, table, seqs, batch]) => {
          const { bytes, stats } = compress(V, table, seqs, batch)
          const back = Effect.runSync(decompressSequences(bytes, "x.mzac", model(V), sourceFor(V, table)))
          expect(back.sequences).toEqual(seqs)
          expect(back.header).toMatchObject({
            count: seqs.length,
            vocab: V,
            batch,
            freqBits: 20,
            precision: "fp32",
            backend: "test",
            bos: false,
            seqLen: Math.max(...seqs.map((s) => s.length))
          })
          const payloadBits = stats.bits.reduce((a, b) => a + b, 0)
          // Header + index (2 one-byte varints while code words are < 128 bits) + payload, nothing else.
          const indexBytes = Effect.runSync(readCompressed(bytes, "x.mzac")).payload.byteOffset - bytes.byteOffset - HEADER_BYTES
          expect(bytes.length).toBe(HEADER_BYTES + indexBytes + Math.ceil(payloadBits / 8))
          for (let i = 0; i < seqs.length; i++) expect(stats.bits[i]).toBeLessThanOrEqual(stats.boundBits[i])
        }
      ),
      { numRuns: 100 }
    )
  })

  it("reject any corrupted byte with an error naming the file and an offset", () => {
    const V = 5
    const table = Float64Array.from({ length: V * V }, () => Math.log2(1 / V))
    const seqs = [Uint32Array.from([1, 2, 3, 4]), Uint32Array.from([0, 0, 1]), Uint32Array.from([4, 4, 4, 4, 4, 4])]
    const { bytes } = compress(V, table, seqs)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const bad = bytes.slice()
        bad[at] ^= xor
        const error = Effect.runSync(Effect.flip(decompressSequences(bad, "c.mzac", model(V), sourceFor(V, table))))
        expect(error).toBeInstanceOf(DatasetError)
        expect((error as DatasetError).file).toBe("c.mzac")
        expect(error.message).toMatch(/^byte \d+: /)
        if (at >= 4 + 2) expect(error.message).toMatch(/checksum mismatch|corrupted/)
      }),
      { numRuns: 200 }
    )
  })

  it("parse any re-signed mutation of a file to a checked result or a DatasetError, never a crash", () => {
    const V = 7
    const table = Float64Array.from({ length: V * V }, () => Math.log2(1 / V))
    const seqs = Array.from({ length: 20 }, (_, i) => Uint32Array.from({ length: 1 + (i % 6) }, (_, k) => (i + k) % V))
    const { bytes } = compress(V, table, seqs)
    // Mutations of the header and index, with the checksum recomputed so that parsing goes past it.
    const sign = (b: Uint8Array) => {
      b.set(createHash("sha256").update(b.subarray(0, 132)).update(b.subarray(HEADER_BYTES)).digest(), 132)
      return b
    }
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 4, max: HEADER_BYTES + 45 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 40 }),
        (edits, cut) => {
          const b = bytes.slice(0, bytes.length - cut)
          for (const [at, value] of edits) if (at < 132 || at >= HEADER_BYTES) b[at] = value
          const exit = Effect.runSyncExit(readCompressed(sign(b), "m.mzac"))
          if (Exit.isSuccess(exit)) {
            const f = exit.value
            expect(f.lengths).toHaveLength(f.header.count)
            expect(f.bitLengths.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(8 * f.payload.length)
            for (const l of f.lengths) expect(l).toBeLessThanOrEqual(f.header.seqLen)
          } else {
            const e = Exit.isFailure(exit) ? exit.cause : undefined
            expect(String(e)).toMatch(/DatasetError/)
            expect(Effect.runSync(Effect.flip(readCompressed(sign(b), "m.mzac")))).toBeInstanceOf(DatasetError)
          }
        }
      ),
      // The example: a sequence count of ~3·10⁹ in a file re-signed around it (an allocation failure before the count was checked).
      {
        numRuns: 500,
        examples: [
          [
            [
              [43, 189],
              [7, 0]
            ],
            0
          ]
        ]
      }
    )
  })

  it("reject truncated and foreign files", () => {
    const V = 3
    const table = Float64Array.from({ length: V * V }, () => Math.log2(1 / V))
    const { bytes } = compress(V, table, [Uint32Array.from([1, 2, 0, 1, 2, 0, 1, 2])])
    const fail = (b: Uint8Array) => Effect.runSync(Effect.flip(readCompressed(b, "t.mzac")))
    expect(fail(bytes.subarray(0, bytes.length - 1)).message).toMatch(/checksum mismatch/)
    expect(fail(bytes.subarray(0, 100)).message).toMatch(/byte 100: the file has 100 bytes, fewer than the 164-byte header/)
    expect(fail(new TextEncoder().encode(`{"tokens": [1, 2, 3]}${" ".repeat(200)}`)).message).toMatch(/byte 0: magic is "\{\\"to", expected "MZAC"/)
    const future = bytes.slice()
    future[4] = 2
    expect(fail(future).message).toMatch(/byte 4: format version 2; this memorize reads version 1/)
  })

  it("refuse another model (weights hash) and catch a model that evaluates differently (tokens hash)", () => {
    const V = 6
    const seqs = [Uint32Array.from([1, 2, 3, 4, 5]), Uint32Array.from([5, 4, 3])]
    const [t1, t2] = fc.sample(logProbTableArb(V), { numRuns: 2, seed: 7 })
    const { bytes } = compress(V, t1, seqs)
    const other = Effect.runSync(Effect.flip(decompressSequences(bytes, "m.mzac", model(V, HASH_B), sourceFor(V, t1))))
    expect(other).toBeInstanceOf(ModelError)
    expect(other.message).toMatch(/these weights hash to bbbbbbbbbbbbbbbb…, but m\.mzac was compressed with a model whose weights hash to aaaaaaaaaaaaaaaa…/)
    expect((other as ModelError).file).toBe("model-dir")
    // Same stated hash, different logits (as another backend would give): the decoded tokens are wrong, and that is caught.
    const drift = Effect.runSync(Effect.flip(decompressSequences(bytes, "m.mzac", model(V), sourceFor(V, t2))))
    expect(drift).toBeInstanceOf(ModelError)
    expect(drift.message).toMatch(/decoded sequences hash to .* the model computed other logits than at compression/)
    const vocab = Effect.runSync(Effect.flip(decompressSequences(bytes, "m.mzac", model(V + 1), sourceFor(V, t1))))
    expect(vocab.message).toMatch(/data vocabulary is 7, m\.mzac was coded over 6/)
  })
})
