import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { collectSequences } from "../src/collect.ts"
import { jsonlDocuments } from "../src/sources/jsonl.ts"
import { textDataset } from "../src/text.ts"
import { bytesTokenizer } from "../src/tokenizers.ts"
import { context, load, tempDir } from "./helpers.ts"

const doc = (i: number) => Array.from({ length: 30 }, (_, j) => `v${i}y${j}`).join(" ")

/** A 10-document corpus loaded once (so cached): the spec, the first load and its one cache file. */
const cachedCorpus = () =>
  Effect.gen(function* () {
    const dir = tempDir()
    writeFileSync(join(dir, "a.jsonl"), Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: doc(i) })).join("\n"))
    const spec = { path: "a.jsonl", tokenizer: "bytes", seqLen: 16, samples: 10, holdout: 5 }
    const first = yield* load(textDataset, spec, context(dir))
    const cacheFiles = readdirSync(join(dir, "cache", "datasets"))
    return { dir, spec, first, cacheFiles, file: join(dir, "cache", "datasets", cacheFiles[0]!) }
  })

describe("tokenized-corpus cache", () => {
  it.effect("a repeated request is served from the cache with the same dataset; a changed file is not", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = join(dir, "a.jsonl")
      writeFileSync(file, Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: doc(i) })).join("\n"))
      const spec = { path: "a.jsonl", tokenizer: "bytes", seqLen: 16, samples: 40, holdout: 20 }
      const first = yield* load(textDataset, spec, context(dir, 3))
      expect(first.stats.cacheHit).toBe(false)
      const second = yield* load(textDataset, spec, context(dir, 3))
      expect(second.stats.cacheHit).toBe(true)
      expect(second.fingerprint).toBe(first.fingerprint)
      expect(second.stats.duplicatesDropped).toBe(first.stats.duplicatesDropped)
      // Another split seed reuses the same tokenized sequences.
      const reseeded = yield* load(textDataset, spec, context(dir, 4))
      expect(reseeded.stats.cacheHit).toBe(true)
      expect(reseeded.fingerprint).not.toBe(first.fingerprint)
      // Rewriting the file (new size) invalidates the entry.
      writeFileSync(file, Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: doc(i + 50) + " extra" })).join("\n"))
      const changed = yield* load(textDataset, spec, context(dir, 3))
      expect(changed.stats.cacheHit).toBe(false)
      expect(changed.fingerprint).not.toBe(first.fingerprint)
      const off = yield* load(textDataset, { ...spec, cache: false }, context(dir, 3))
      expect(off.stats.cacheHit).toBe(false)
      expect(off.fingerprint).toBe(changed.fingerprint)
    })
  )

  it.effect("a corrupt cache file is ignored and rewritten", () =>
    Effect.gen(function* () {
      const { dir, spec, first, cacheFiles, file } = yield* cachedCorpus()
      expect(cacheFiles.length).toBe(1)
      writeFileSync(file, "MEMDS2\n garbage")
      const again = yield* load(textDataset, spec, context(dir))
      expect(again.stats.cacheHit).toBe(false)
      expect(again.fingerprint).toBe(first.fingerprint)
      const third = yield* load(textDataset, spec, context(dir))
      expect(third.stats.cacheHit).toBe(true)
    })
  )

  it.effect("tampering: bytes changed inside a cached token file are detected by its content hash and the entry rebuilt", () =>
    Effect.gen(function* () {
      const { dir, spec, first, file } = yield* cachedCorpus()
      const bytes = readFileSync(file)
      // Same size, valid header: one token changed near the end (a silent disk error or a hand edit).
      bytes[bytes.length - 3] ^= 0x01
      writeFileSync(file, bytes)
      const again = yield* load(textDataset, spec, context(dir))
      expect(again.stats.cacheHit).toBe(false)
      expect(String(again.stats.cacheRebuilt)).toMatch(/content hash mismatch/)
      expect(again.fingerprint).toBe(first.fingerprint)
      // The rebuilt entry is whole again.
      const third = yield* load(textDataset, spec, context(dir))
      expect(third.stats.cacheHit).toBe(true)
      expect(third.fingerprint).toBe(first.fingerprint)
    })
  )

  it.effect("a header whose stats lack a field is an invalid header: the entry is rebuilt, never read with a cast", () =>
    Effect.gen(function* () {
      const { dir, spec, first, file } = yield* cachedCorpus()
      const bytes = readFileSync(file)
      // The header is JSON after the magic line and a 4-byte length: drop "exhausted" from its stats, keep the length.
      const magicEnd = bytes.indexOf(0x0a) + 1
      const length = bytes.readUInt32LE(magicEnd)
      const header = bytes.subarray(magicEnd + 4, magicEnd + 4 + length).toString("utf8")
      const edited = header.replace(/"exhausted":(true|false)/, (m) => `"exhaustex":${m.endsWith("true") ? "true" : "false"}`)
      expect(edited).not.toBe(header)
      Buffer.from(edited, "utf8").copy(bytes, magicEnd + 4)
      writeFileSync(file, bytes)
      const again = yield* load(textDataset, spec, context(dir))
      expect(again.stats.cacheHit).toBe(false)
      expect(String(again.stats.cacheRebuilt)).toMatch(/invalid header/)
      expect(again.fingerprint).toBe(first.fingerprint)
    })
  )
})

describe("interruption", () => {
  it("collection stops at an aborted signal", async () => {
    const dir = tempDir()
    const file = join(dir, "a.jsonl")
    writeFileSync(file, Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: doc(i) })).join("\n"))
    const controller = new AbortController()
    controller.abort(new Error("stop"))
    await expect(
      collectSequences(jsonlDocuments([file], "text"), { tokenizer: bytesTokenizer, seqLen: 8, want: 1000, shuffle: false, seed: 0, signal: controller.signal })
    ).rejects.toThrow("stop")
  })
})
