import { describe, expect, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { TokensConfig, tokensDataset } from "../src/tokens.ts"
import { context, load, tempDir } from "./helpers.ts"

describe("tokens", () => {
  it.effect("reads arrays and {tokens} objects for members and the holdout", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "m.jsonl"), '[1,2,3]\n{"tokens":[4,5,6],"id":1}\n\n')
      writeFileSync(join(dir, "n.jsonl"), "[7,8,9]\n[1,2,3]\n")
      const d = yield* load(tokensDataset, { path: "m.jsonl", holdout: "n.jsonl", vocab: 10, seqLen: 3 }, context(dir))
      expect(Array.from(d.train.tokens)).toEqual([1, 2, 3, 4, 5, 6])
      expect(d.train.count).toBe(2)
      expect(Array.from(d.holdout.tokens)).toEqual([7, 8, 9, 1, 2, 3])
      expect(d.stats.holdoutEqualToMember).toBe(1)
      expect(d.stats.repeatedMembers).toBe(0)
      expect(d.entropyBitsPerSequence).toBeUndefined()
      expect(d.fingerprint).toMatch(/^sha256:/)
      const membersOnly = yield* load(tokensDataset, { path: "m.jsonl", vocab: 10, seqLen: 3 }, context(dir))
      expect(membersOnly.holdout.count).toBe(0)
      expect(membersOnly.fingerprint).not.toBe(d.fingerprint)
    })
  )

  it.effect("errors name the file and line: wrong length, out-of-range id, bad line, missing file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const cases: Array<[string, RegExp]> = [
        ["[1,2,3]\n[1,2]\n", /m\.jsonl:2: 2 tokens, expected exactly seqLen = 3/],
        ["[1,2,3]\n[1,2,10]\n", /m\.jsonl:2: token 2 is 10, expected an integer id in \[0, 10\)/],
        ["[1,-1,3]\n", /m\.jsonl:1: token 1 is -1/],
        ["[1,2.5,3]\n", /m\.jsonl:1: token 1 is 2\.5/],
        ['{"ids":[1,2,3]}\n', /m\.jsonl:1: expected an array of token ids or an object with a "tokens" field, found object/],
        ["[1,2,3\n", /m\.jsonl:1: not valid JSON/],
        ["", /no member sequences/]
      ]
      for (const [content, message] of cases) {
        writeFileSync(join(dir, "m.jsonl"), content)
        const error = yield* Effect.flip(load(tokensDataset, { path: "m.jsonl", vocab: 10, seqLen: 3 }, context(dir)))
        expect(error._tag).toBe("DatasetError")
        expect(error.message).toMatch(message)
        expect(error.file).toBe(join(dir, "m.jsonl"))
      }
      const missing = yield* Effect.flip(load(tokensDataset, { path: "m.jsonl", holdout: "gone.jsonl", vocab: 10, seqLen: 3 }, context(dir)))
      expect(missing.message).toMatch(/file not found: .*gone\.jsonl/)
      // Before any file is read, validate's requirement check names the missing file and its field.
      const problems = yield* tokensDataset.check!(Schema.decodeUnknownSync(TokensConfig)({ path: "m.jsonl", holdout: ["gone.jsonl"], vocab: 10, seqLen: 3 }), {
        specDir: dir,
        run: { dataset: {} }
      })
      expect(problems.map((p) => p.path)).toEqual([["holdout", 0]])
      expect(problems[0]!.message).toMatch(/file not found: .*gone\.jsonl/)
      for (const bad of [
        { vocab: 1, seqLen: 3 },
        { vocab: 0, seqLen: 3 },
        { vocab: 10, seqLen: 0 },
        { vocab: 10, seqLen: -1 },
        { vocab: 2.5, seqLen: 3 }
      ]) {
        expect(Schema.decodeUnknownExit(TokensConfig)({ path: "m.jsonl", ...bad })._tag, JSON.stringify(bad)).toBe("Failure")
      }
      expect(tokensDataset.facts!(Schema.decodeUnknownSync(TokensConfig)({ path: "m.jsonl", vocab: 10, seqLen: 3 }))).toMatchObject({
        holdout: 0,
        exactEntropy: false
      })
    })
  )
})
