import { describe, expect, it } from "@effect/vitest"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { parquetWriteFile } from "hyparquet-writer"
import type { DocumentPiece } from "../src/sources/document.ts"
import { expandPaths } from "../src/sources/glob.ts"
import { plainTextDocuments } from "../src/sources/plaintext.ts"
import { TextConfig, textDataset } from "../src/text.ts"
import { context, load, rowKeys, tempDir } from "./helpers.ts"

/** Documents of distinct words, so every 8-byte sequence is distinct unless planted. */
const doc = (i: number, words = 40) => Array.from({ length: words }, (_, j) => `w${i}x${j}`).join(" ")

const writeJsonl = (file: string, rows: ReadonlyArray<unknown>) => writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")

const writeParquet = (file: string, texts: ReadonlyArray<string | null>, rowGroupSize = 10, name = "text") =>
  parquetWriteFile({
    filename: file,
    columnData: [
      { name, data: texts as Array<string>, type: "STRING" },
      { name: "id", data: texts.map((_, i) => i), type: "INT32" }
    ],
    rowGroupSize
  })

const bytes = (dir: string, extra: Record<string, unknown>) => load(textDataset, { tokenizer: "bytes", seqLen: 16, ...extra }, context(dir, 1))

describe("text sources", () => {
  it.effect("JSONL: streams documents from the field (dotted paths too), chunks within documents", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(
        join(dir, "a.jsonl"),
        Array.from({ length: 30 }, (_, i) => ({ meta: { body: doc(i) }, id: i }))
      )
      const d = yield* bytes(dir, { path: "a.jsonl", field: "meta.body", samples: 100, holdout: 50 })
      expect(d.stats.source).toBe("jsonl")
      expect(d.train.count).toBe(100)
      expect(d.holdout.count).toBe(50)
      expect(d.vocabSize).toBe(256)
      // Every sequence's bytes lie inside one document's text.
      const texts = Array.from({ length: 30 }, (_, i) => doc(i))
      for (const key of rowKeys(d.train.tokens, 16)) {
        const s = String.fromCharCode(...key.split(",").map(Number))
        expect(texts.some((t) => t.includes(s))).toBe(true)
      }
    })
  )

  it.effect("stops reading once enough distinct sequences exist (a bad line further on is never reached)", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "a.jsonl"), [...Array.from({ length: 50 }, (_, i) => JSON.stringify({ text: doc(i) })), "{ not json"].join("\n"))
      const d = yield* bytes(dir, { path: "a.jsonl", samples: 20, holdout: 10 })
      expect(d.stats.corpusExhausted).toBe(false)
      expect(d.stats.documents).toBeLessThan(50)
      const error = yield* Effect.flip(bytes(dir, { path: "a.jsonl", samples: 100_000, holdout: 0 }))
      expect(error.message).toContain("a.jsonl:51: not valid JSON")
      expect(error.file).toBe(join(dir, "a.jsonl"))
    })
  )

  it.effect("Parquet: reads the column row group by row group, skipping nulls; stops early", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const texts = Array.from({ length: 45 }, (_, i) => (i % 7 === 3 ? null : doc(i)))
      writeParquet(join(dir, "part-0.parquet"), texts)
      writeFileSync(join(dir, "part-1.parquet"), "this is not parquet")
      const d = yield* bytes(dir, { path: "part-*.parquet", samples: 60, holdout: 20 })
      expect(d.stats.source).toBe("parquet")
      expect(d.train.count).toBe(60)
      expect(d.stats.corpusExhausted).toBe(false)
      // Reading on into the second file fails there, naming it.
      const error = yield* Effect.flip(bytes(dir, { path: "part-*.parquet", samples: 100_000 }))
      expect(error.message).toMatch(/part-1\.parquet is not a readable Parquet file/)
      expect(error.file).toBe(join(dir, "part-1.parquet"))
    })
  )

  it.effect("Parquet and JSONL of the same documents give the same dataset", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const texts = Array.from({ length: 25 }, (_, i) => doc(i))
      writeParquet(join(dir, "docs.parquet"), texts, 7)
      writeJsonl(
        join(dir, "docs.jsonl"),
        texts.map((text) => ({ text }))
      )
      const a = yield* bytes(dir, { path: "docs.parquet", samples: 80, holdout: 40 })
      const b = yield* bytes(dir, { path: "docs.jsonl", samples: 80, holdout: 40 })
      expect(a.fingerprint).toBe(b.fingerprint)
    })
  )

  it.effect("plain text files: one document per file, also when streamed in pieces", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      mkdirSync(join(dir, "corpus", "sub"), { recursive: true })
      writeFileSync(join(dir, "corpus", "a.txt"), doc(1, 300))
      writeFileSync(join(dir, "corpus", "sub", "b.txt"), doc(2, 300))
      const d = yield* bytes(dir, { path: "corpus/**/*.txt", samples: 100_000, holdout: 0, allowFewer: true })
      expect(d.stats.source).toBe("text")
      expect(d.stats.files).toBe(2)
      expect(d.stats.documents).toBe(2)
      expect(d.stats.tailTokensDropped).toBe((doc(1, 300).length % 16) + (doc(2, 300).length % 16))

      // A file above the whole-file limit arrives in pieces that end at line breaks and rebuild it exactly.
      const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"é".repeat(i % 7)}`).join("\n")
      const big = join(dir, "big.txt")
      writeFileSync(big, lines)
      const pieces = yield* Effect.promise(async () => {
        const out: Array<DocumentPiece> = []
        for await (const p of plainTextDocuments([big], { wholeFileBytes: 100, pieceBytes: 256 })) out.push(p)
        return out
      })
      expect(pieces.length).toBeGreaterThan(5)
      expect(pieces.map((p) => p.text).join("")).toBe(lines)
      expect(pieces.map((p) => p.last)).toEqual([...Array(pieces.length - 1).fill(false), true])
      expect(pieces.slice(0, -1).every((p) => p.text.endsWith("\n"))).toBe(true)

      // Without line breaks, pieces end after a space and still rebuild the file.
      const oneLine = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ")
      const flat = join(dir, "flat.txt")
      writeFileSync(flat, oneLine)
      const flatPieces = yield* Effect.promise(async () => {
        const out: Array<DocumentPiece> = []
        for await (const p of plainTextDocuments([flat], { wholeFileBytes: 100, pieceBytes: 64 })) out.push(p)
        return out
      })
      expect(flatPieces.length).toBeGreaterThan(5)
      expect(flatPieces.map((p) => p.text).join("")).toBe(oneLine)
      expect(flatPieces.slice(0, -1).every((p) => p.text.endsWith(" "))).toBe(true)
    })
  )

  it.effect("globs: **, {a,b}, ? and classes; sorted, without repeats", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      mkdirSync(join(dir, "x", "y"), { recursive: true })
      for (const f of ["a1.txt", "a2.txt", "b.txt", "x/c.txt", "x/y/d.md"]) writeFileSync(join(dir, f), "")
      const rel = (files: Array<string>) => files.map((f) => f.slice(dir.length + 1))
      expect(rel(yield* Effect.promise(() => expandPaths(["**/*.txt"], dir)))).toEqual(["a1.txt", "a2.txt", "b.txt", "x/c.txt"])
      expect(rel(yield* Effect.promise(() => expandPaths(["a?.txt", "{b,x/c}.txt", "a1.txt"], dir)))).toEqual(["a1.txt", "a2.txt", "b.txt", "x/c.txt"])
      expect(rel(yield* Effect.promise(() => expandPaths(["a[2].txt", "x/**"], dir)))).toEqual(["a2.txt", "x/c.txt", "x/y/d.md"])
    })
  )

  it.effect("dedup removes planted duplicates and reports them", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      // "abcdefghijklmnop" is exactly one 16-byte sequence; plant it 10 times among 20 distinct documents.
      const planted = "abcdefghijklmnop"
      const rows = [...Array.from({ length: 20 }, (_, i) => ({ text: doc(i, 20) })), ...Array.from({ length: 10 }, () => ({ text: planted }))]
      writeJsonl(join(dir, "d.jsonl"), rows)
      const d = yield* bytes(dir, { path: "d.jsonl", samples: 1, holdout: 0, shuffle: true })
      const whole = yield* bytes(dir, { path: "d.jsonl", samples: 10_000, holdout: 0, allowFewer: true })
      expect(whole.stats.duplicatesDropped).toBe(9)
      expect(d.stats.duplicatesDropped).toBe(9)
      expect(rowKeys(whole.train.tokens, 16).filter((k) => k === Array.from(Buffer.from(planted)).join(",")).length).toBe(1)
      expect(new Set(rowKeys(whole.train.tokens, 16)).size).toBe(whole.train.count)
    })
  )

  it.effect("split is seeded, deterministic and disjoint; shuffle is reproducible and independent of file order", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(
        join(dir, "a.jsonl"),
        Array.from({ length: 20 }, (_, i) => ({ text: doc(i) }))
      )
      writeJsonl(
        join(dir, "b.jsonl"),
        Array.from({ length: 20 }, (_, i) => ({ text: doc(100 + i) }))
      )
      const one = yield* bytes(dir, { path: ["a.jsonl", "b.jsonl"], samples: 50, holdout: 50, seed: 5 })
      const again = yield* bytes(dir, { path: ["a.jsonl", "b.jsonl"], samples: 50, holdout: 50, seed: 5 })
      const other = yield* bytes(dir, { path: ["a.jsonl", "b.jsonl"], samples: 50, holdout: 50, seed: 6 })
      expect(again.fingerprint).toBe(one.fingerprint)
      expect(other.fingerprint).not.toBe(one.fingerprint)
      const members = new Set(rowKeys(one.train.tokens, 16))
      expect(rowKeys(one.holdout.tokens, 16).some((k) => members.has(k))).toBe(false)

      const s1 = yield* bytes(dir, { path: ["a.jsonl", "b.jsonl"], samples: 30, holdout: 10, seed: 5, shuffle: true })
      const s2 = yield* bytes(dir, { path: ["b.jsonl", "a.jsonl"], samples: 30, holdout: 10, seed: 5, shuffle: true })
      expect(s2.fingerprint).toBe(s1.fingerprint)
      expect(s1.stats.corpusExhausted).toBe(true)
      // A shuffled sample draws from both files, not only the first one read.
      const fromB = rowKeys(s1.train.tokens, 16).filter((k) => String.fromCharCode(...k.split(",").map(Number)).includes("w1"))
      expect(fromB.length).toBeGreaterThan(0)
    })
  )

  it.effect("allowFewer: uses what exists, split in the requested proportion", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(
        join(dir, "a.jsonl"),
        Array.from({ length: 4 }, (_, i) => ({ text: doc(i) }))
      )
      const error = yield* Effect.flip(bytes(dir, { path: "a.jsonl", samples: 1000, holdout: 1000 }))
      expect(error.message).toMatch(/only \d+ distinct sequences of 16 tokens .* but samples 1000 \+ holdout 1000 = 2000 requested/)
      const d = yield* bytes(dir, { path: "a.jsonl", samples: 1000, holdout: 1000, allowFewer: true })
      expect(d.train.count + d.holdout.count).toBe(d.stats.uniqueSequences)
      expect(Math.abs(d.train.count - d.holdout.count)).toBeLessThanOrEqual(1)
      expect(d.stats.fewerThanRequested).toBe(true)
    })
  )

  it.effect("rarity: TF-IDF per sample when asked", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(
        join(dir, "a.jsonl"),
        Array.from({ length: 10 }, (_, i) => ({ text: doc(i) }))
      )
      const d = yield* bytes(dir, { path: "a.jsonl", samples: 20, holdout: 10, rarity: true })
      expect(d.rarity?.train.length).toBe(20)
      expect(d.rarity?.holdout.length).toBe(10)
      expect([...d.rarity!.train].every((x) => x > 0 && Number.isFinite(x))).toBe(true)
      const none = yield* bytes(dir, { path: "a.jsonl", samples: 20, holdout: 10 })
      expect(none.rarity).toBeUndefined()
    })
  )
})

describe("text: bad input is a DatasetError naming the file/field and what was found", () => {
  const expectError = (extra: Record<string, unknown>, dir: string, message: RegExp, file?: string) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(bytes(dir, extra))
      expect(error._tag).toBe("DatasetError")
      expect(error.dataset).toBe("text")
      expect(error.message).toMatch(message)
      if (file !== undefined) expect(error.file).toBe(file)
    })

  it.effect("missing file, unmatched glob", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      yield* expectError({ path: "nope.jsonl", samples: 1 }, dir, /file not found: .*nope\.jsonl/, join(dir, "nope.jsonl"))
      yield* expectError({ path: "data/*.parquet", samples: 1 }, dir, /no file matches "data\/\*\.parquet"/)
    })
  )

  it.effect("unreadable Parquet, missing column", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "bad.parquet"), "PAR1 garbage")
      yield* expectError({ path: "bad.parquet", samples: 1 }, dir, /bad\.parquet is not a readable Parquet file/, join(dir, "bad.parquet"))
      writeParquet(join(dir, "ok.parquet"), ["hello"], 10, "content")
      yield* expectError({ path: "ok.parquet", samples: 1 }, dir, /has no column "text" \(columns: "content", "id"\)/, join(dir, "ok.parquet"))
    })
  )

  it.effect("missing JSONL field, wrong type, invalid JSON", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(join(dir, "a.jsonl"), [{ text: doc(1) }, { body: "x", id: 2 }])
      yield* expectError({ path: "a.jsonl", samples: 100 }, dir, /a\.jsonl:2: no field "text" \(line is object with keys "body", "id"\)/, join(dir, "a.jsonl"))
      writeJsonl(join(dir, "b.jsonl"), [{ text: 42 }])
      yield* expectError({ path: "b.jsonl", samples: 1 }, dir, /b\.jsonl:1: field "text" is number, expected a string/)
    })
  )

  it.effect("empty corpus, too few sequences, bad seqLen/samples, unknown tokenizer, no source", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "empty.jsonl"), "\n\n")
      yield* expectError({ path: "empty.jsonl", samples: 1 }, dir, /empty corpus: .* 0 documents, 0 tokens and no sequence of 16 tokens/)
      writeJsonl(join(dir, "short.jsonl"), [{ text: "too short" }])
      yield* expectError({ path: "short.jsonl", samples: 1 }, dir, /empty corpus: .* 1 documents, 9 tokens/)
      writeJsonl(join(dir, "few.jsonl"), [{ text: doc(1) }])
      yield* expectError({ path: "few.jsonl", samples: 500, holdout: 0 }, dir, /only \d+ distinct sequences/)
      yield* expectError({ path: "few.jsonl", samples: 1, tokenizer: "llama" }, dir, /unknown tokenizer "llama" \(known: gpt2, bytes\)/)
      yield* expectError({ samples: 1 }, dir, /no source/)
      yield* expectError({ source: "jsonl", samples: 1 }, dir, /source jsonl needs a path/)
      yield* expectError({ source: "brown", samples: 1, categories: ["a", "z"] }, dir, /unknown Brown categories "z" \(known: a, b, .* r\)/)
      yield* expectError({ path: "few.jsonl", samples: 1, categories: ["a"] }, dir, /categories applies to source: brown only/)
    })
  )

  it.effect("its requirement check finds unknown tokenizers, missing files, bad sources before any file is read", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeJsonl(join(dir, "ok.jsonl"), [{ text: doc(1) }])
      const check = (section: Record<string, unknown>) =>
        textDataset.check!(Schema.decodeUnknownSync(TextConfig)(section), { specDir: dir, run: { dataset: {} } })
      expect(yield* check({ path: "ok.jsonl", samples: 1, tokenizer: "bytes" })).toEqual([])
      const found = yield* check({ source: "jsonl", path: ["ok.jsonl", "nope.jsonl", "none/*.jsonl"], samples: 1, tokenizer: "llama" })
      expect(found.map((p) => p.path)).toEqual([["tokenizer"], ["path", 1], ["path", 2]])
      expect(found[0]!.message).toMatch(/unknown tokenizer "llama" \(known: gpt2, bytes\)/)
      expect(found[1]!.message).toContain(`file not found: ${join(dir, "nope.jsonl")}`)
      expect(found[2]!.message).toMatch(/no file matches "none\/\*\.jsonl"/)
      expect((yield* check({ samples: 1 }))[0]!.message).toMatch(/no source/)
      expect((yield* check({ source: "jsonl", samples: 1 }))[0]).toMatchObject({ path: ["source"] })
      expect((yield* check({ source: "brown", samples: 1, categories: ["z"] }))[0]).toMatchObject({ path: ["categories"] })
      expect(textDataset.facts!(Schema.decodeUnknownSync(TextConfig)({ source: "brown", samples: 3, rarity: true, tokenizer: "bytes" }))).toEqual({
        seqLen: 64,
        samples: 3,
        holdout: 3,
        exactEntropy: false,
        rarity: true,
        tokenizer: "bytes",
        vocabSize: 256
      })
      for (const bad of [{ samples: 0 }, { samples: -1 }, { samples: 1, seqLen: 0 }, { samples: 1, holdout: -1 }, { samples: 1, seed: -1 }, { samples: 1.5 }]) {
        expect(Schema.decodeUnknownExit(TextConfig)({ source: "brown", ...bad })._tag, JSON.stringify(bad)).toBe("Failure")
      }
    })
  )
})
