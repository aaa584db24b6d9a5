/** Property tests of the readers: what is written comes back exactly. */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { join } from "node:path"
import fc from "fast-check"
import { parquetWriteFile } from "hyparquet-writer"
import { untagSentence } from "../src/sources/brown.ts"
import type { DocumentPiece } from "../src/sources/document.ts"
import { expandPaths } from "../src/sources/glob.ts"
import { jsonlDocuments } from "../src/sources/jsonl.ts"
import { parquetDocuments } from "../src/sources/parquet.ts"
import { readTokenFiles } from "../src/tokens.ts"
import { tempDir } from "./helpers.ts"

const collect = async (it: AsyncIterable<DocumentPiece>) => {
  const out: Array<DocumentPiece> = []
  for await (const p of it) out.push(p)
  return out
}

const dir = tempDir()
let n = 0
const fresh = (ext: string) => join(dir, `f${n++}.${ext}`)

describe("reader properties", () => {
  it("JSONL: any strings written under any field come back exactly, in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: "grapheme" }), { maxLength: 20 }), fc.constantFrom("text", "content"), async (texts, field) => {
        const file = fresh("jsonl")
        writeFileSync(file, texts.map((t) => JSON.stringify({ [field]: t, other: 1 })).join("\n"))
        const docs = await collect(jsonlDocuments([file], field))
        expect(docs.map((d) => d.text)).toEqual(texts)
        expect(docs.every((d) => d.last)).toBe(true)
      }),
      { numRuns: 30 }
    )
  })

  it("Parquet: any strings (and nulls, skipped) across row groups come back exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.string({ unit: "grapheme" }), { nil: null }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 9 }),
        async (texts, rowGroupSize) => {
          const file = fresh("parquet")
          parquetWriteFile({ filename: file, columnData: [{ name: "text", data: texts as Array<string>, type: "STRING", nullable: true }], rowGroupSize })
          const docs = await collect(parquetDocuments([file], "text"))
          expect(docs.map((d) => d.text)).toEqual(texts.filter((t) => t !== null))
        }
      ),
      { numRuns: 30 }
    )
  })

  it("tokens JSONL: any valid sequences come back exactly in either line form", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 6 })
          .chain((S) =>
            fc.tuple(
              fc.constant(S),
              fc.array(fc.tuple(fc.array(fc.integer({ min: 0, max: 99 }), { minLength: S, maxLength: S }), fc.boolean()), { maxLength: 20 })
            )
          ),
        async ([S, rows]) => {
          const file = fresh("jsonl")
          writeFileSync(file, rows.map(([r, asObject]) => JSON.stringify(asObject ? { tokens: r } : r)).join("\n"))
          const seqs = await readTokenFiles([file], 100, S)
          expect(seqs.count).toBe(rows.length)
          expect(Array.from(seqs.tokens)).toEqual(rows.flatMap(([r]) => r))
        }
      ),
      { numRuns: 30 }
    )
  })

  it("Brown untagging keeps every word, in order", () => {
    // Words (not punctuation, which the detokenizer glues to its neighbour).
    const word = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9'-]{0,7}$/)
    fc.assert(
      fc.property(fc.array(fc.tuple(word, fc.stringMatching(/^[a-z$-]{1,5}$/)), { minLength: 1, maxLength: 30 }), (pairs) => {
        const line = "\t" + pairs.map(([w, t]) => `${w}/${t}`).join(" ")
        expect(untagSentence(line)).toBe(pairs.map(([w]) => w).join(" "))
      })
    )
  })

  it("a glob picks exactly the files whose names match, in a sorted walk's order", async () => {
    const nameArb = fc.stringMatching(/^[a-z0-9]{1,6}\.(jsonl|txt)$/)
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(fc.constantFrom("", "a", "b/c"), nameArb), { minLength: 1, maxLength: 8 }), async (files) => {
        const root = fs.mkdtempSync(path.join(dir, "glob-"))
        for (const [folder, name] of files) {
          fs.mkdirSync(path.join(root, folder), { recursive: true })
          fs.writeFileSync(path.join(root, folder, name), "")
        }
        const want = [...new Set(files.filter(([, n]) => n.endsWith(".jsonl")).map(([f, n]) => path.join(root, f, n)))].sort((x, y) => {
          const a = path.relative(root, x).split(path.sep)
          const b = path.relative(root, y).split(path.sep)
          for (let k = 0; k < Math.min(a.length, b.length); k++) if (a[k] !== b[k]) return a[k]! < b[k]! ? -1 : 1
          return a.length - b.length
        })
        if (want.length === 0) await expect(expandPaths(["**/*.jsonl"], root)).rejects.toThrow(/no file matches/)
        else expect(await expandPaths(["**/*.jsonl"], root)).toEqual(want)
      }),
      { numRuns: 25 }
    )
  })
})
