import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { plugins } from "../src/index.ts"

const decode = (name: string, input: unknown) => {
  const p = plugins.find((x) => x.name === name)!
  return Schema.decodeUnknownEffect(p.config as Schema.Codec<unknown, unknown>)(input, { onExcessProperty: "error" })
}

describe("plugin configs", () => {
  it("exports every metric and law plugin once", () => {
    expect(plugins.map((p) => `${p.kind}:${p.name}`)).toEqual([
      "metric:memorization",
      "metric:membership-inference",
      "metric:extraction",
      "metric:rarity",
      "metric:loss",
      "metric:compression",
      "law:capacity",
      "law:double-descent",
      "law:membership-f1"
    ])
  })
  it.effect("defaults fill an empty section", () =>
    Effect.gen(function* () {
      expect(yield* decode("membership-inference", {})).toEqual({ calibrationFraction: 0.5 })
      expect(yield* decode("extraction", {})).toEqual({ prefixLengths: [8, 16, 32] })
      expect(yield* decode("rarity", {})).toEqual({ top: 10 })
      expect(yield* decode("capacity", {})).toEqual({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [] })
      expect(yield* decode("membership-f1", {})).toEqual({ feature: "capacityPerSample", alpha: 3.64, f1Key: "f1TopHalf" })
    })
  )
  it.effect("bad values and unknown keys are rejected", () =>
    Effect.gen(function* () {
      for (const [name, input] of [
        ["membership-inference", { calibrationFraction: 1 }],
        ["membership-inference", { calibrationFraction: 0 }],
        ["extraction", { prefixLengths: [0] }],
        ["memorization", { unknown: 1 }],
        ["membership-f1", { feature: "tokensPerParam" }],
        ["membership-f1", { alpha: -1 }]
      ] as const) {
        const r = yield* Effect.result(decode(name, input))
        expect(r._tag, `${name} ${JSON.stringify(input)}`).toBe("Failure")
      }
    })
  )
})
