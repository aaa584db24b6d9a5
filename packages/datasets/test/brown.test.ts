import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { brownFiles, untagDocument, untagSentence } from "../src/sources/brown.ts"
import { textDataset } from "../src/text.ts"
import { context, load, rowKeys, tempDir } from "./helpers.ts"

describe("Brown corpus", () => {
  it("has its 500 documents", async () => {
    const files = await brownFiles()
    expect(files.length).toBe(500)
    expect(files[0].endsWith("ca01")).toBe(true)
    expect(files[499].endsWith("cr09")).toBe(true)
  })

  it("strips part-of-speech tags into running text", () => {
    expect(untagSentence("\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, for/in Atlanta's/np$ 1/2/cd ./.")).toBe(
      'The jury said "no evidence", for Atlanta\'s 1/2.'
    )
    expect(untagDocument("\n\n\tA/at b/nn ./.\n\n\n\tC/np d/vb ?/.\n")).toBe("A b. C d?")
  })

  it.effect("yields more than 15,000 deduplicated 64-token GPT-2 sequences", () =>
    Effect.gen(function* () {
      const d = yield* load(textDataset, { source: "brown", samples: 15000, holdout: 1000 }, context(tempDir(), 0))
      console.log(
        `Brown corpus: ${d.stats.uniqueSequences} distinct 64-token GPT-2 sequences from ${d.stats.documents} documents read (${d.stats.tokens} tokens, ${d.stats.duplicatesDropped} duplicates dropped)`
      )
      expect(d.train.count).toBe(15000)
      expect(d.holdout.count).toBe(1000)
      expect(d.vocabSize).toBe(50257)
      expect(d.seqLen).toBe(64)
      expect(d.train.tokens.length).toBe(15000 * 64)
      const members = new Set(rowKeys(d.train.tokens, 64))
      expect(members.size).toBe(15000)
      expect(rowKeys(d.holdout.tokens, 64).some((k) => members.has(k))).toBe(false)
      expect(d.entropyBitsPerSequence).toBeUndefined()
      expect(d.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/)

      const all = yield* load(textDataset, { source: "brown", samples: 1, holdout: 0, allowFewer: true, shuffle: true }, context(tempDir(), 0))
      const whole = yield* load(textDataset, { source: "brown", samples: 100_000, holdout: 0, allowFewer: true }, context(tempDir(), 0))
      console.log(
        `Brown corpus, whole: ${whole.stats.uniqueSequences} distinct sequences, ${whole.stats.duplicatesDropped} duplicates, ${whole.stats.tokens} tokens`
      )
      expect(whole.stats.uniqueSequences).toBeGreaterThan(15000)
      expect(whole.stats.corpusExhausted).toBe(true)
      expect(all.stats.uniqueSequences).toBe(whole.stats.uniqueSequences)
    })
  )
})
