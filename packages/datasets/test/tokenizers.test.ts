import { describe, expect, it } from "@effect/vitest"
import { readFile } from "node:fs/promises"
import fc from "fast-check"
import { brownFiles, untagDocument } from "../src/sources/brown.ts"
import { bytesTokenizer, gpt2Tokenizer } from "../src/tokenizers.ts"

describe("tokenizers", () => {
  it("have the documented vocabulary sizes", () => {
    expect(gpt2Tokenizer.vocabSize).toBe(50257)
    expect(bytesTokenizer.vocabSize).toBe(256)
  })

  it("GPT-2 encodes a known sentence to GPT-2's ids", () => {
    // "Hello world" is [15496, 995] in GPT-2's vocabulary.
    expect(gpt2Tokenizer.encode("Hello world")).toEqual([15496, 995])
  })

  it("treat special-token text as ordinary text", () => {
    const ids = gpt2Tokenizer.encode("a <|endoftext|> b")
    expect(ids).not.toContain(50256)
    expect(gpt2Tokenizer.decode(ids)).toBe("a <|endoftext|> b")
  })

  it("round-trip Brown corpus text exactly: decode(encode(text)) = text", async () => {
    const files = await brownFiles()
    // One document from each genre keeps the test quick but varied.
    const sample = files.filter((_, i) => i % 25 === 0)
    for (const file of sample) {
      const text = untagDocument(await readFile(file, "utf8"))
      expect(text.length).toBeGreaterThan(1000)
      for (const tok of [gpt2Tokenizer, bytesTokenizer]) {
        const ids = tok.encode(text)
        expect(ids.every((t) => Number.isInteger(t) && t >= 0 && t < tok.vocabSize)).toBe(true)
        expect(tok.decode(ids)).toBe(text)
      }
    }
  })

  it("round-trip arbitrary Unicode text (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (text) => {
        expect(gpt2Tokenizer.decode(gpt2Tokenizer.encode(text))).toBe(text)
        expect(bytesTokenizer.decode(bytesTokenizer.encode(text))).toBe(text)
      }),
      { numRuns: 200 }
    )
  })

  it("bytes tokenizer is UTF-8", () => {
    expect(bytesTokenizer.encode("é€")).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac])
  })
})
