/**
 * Training curves in the report (report/curves.ts), as properties: a log
 * read back is the points written (a resumed stretch replacing the earlier
 * one, torn lines named, not fatal), thinning keeps the ends and the order,
 * and the last-quarter gain is the stored-bits change the loss implies.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import type { RunResult } from "../src/contracts.ts"
import { curveSection, lastQuarter, parseCurve, STILL_GAINING, thin } from "../src/report/curves.ts"

const point = fc.record({ step: fc.integer({ min: 0, max: 100_000 }), loss: fc.double({ min: 0, max: 20, noNaN: true }) })
const line = (p: { step: number; loss: number }) =>
  JSON.stringify({ step: p.step, maxSteps: 100_000, loss: p.loss, lr: 0.01, tokensPerSecond: 1, elapsedMs: 1 })

const result = (runId: string, samples: number, entropyBitsPerSequence: number | null): RunResult => ({
  runId,
  experiment: "x",
  config: { seed: 0, dataset: { samples } },
  model: { kind: "m", paramCount: 10, vocabSize: 2048, seqLen: 64, precision: "fp32", config: {} },
  dataset: { kind: "d", trainCount: samples, holdoutCount: 0, vocabSize: 2048, seqLen: 64, entropyBitsPerSequence, fingerprint: "f", stats: {} },
  train: null,
  metrics: {},
  provenance: {}
})

/** A log falling linearly from `from` to `to` nats/token over 1,000 steps, every 50. */
const falling = (from: number, to: number) => Array.from({ length: 21 }, (_, i) => line({ step: 50 * i, loss: from + ((to - from) * i) / 20 })).join("\n")

describe("training curves", () => {
  it("reads back the last attempt: a step at or below one already read restarts the curve from there", () =>
    fc.assert(
      fc.property(fc.array(fc.array(point, { maxLength: 20 }), { minLength: 1, maxLength: 4 }), (attempts) => {
        // Each attempt logs increasing steps; the next one may start anywhere (a retry from scratch or a checkpoint).
        const logged = attempts.map((a) => [...new Map(a.map((p) => [p.step, p])).values()].sort((x, y) => x.step - y.step))
        const curve = parseCurve("r", `${logged.flat().map(line).join("\n")}\n`)
        let expected: Array<{ step: number; loss: number }> = []
        for (const attempt of logged) {
          const start = attempt[0]
          if (start !== undefined) expected = expected.filter((p) => p.step < start.step)
          expected = [...expected, ...attempt]
        }
        expect(curve.skipped).toEqual([])
        expect(curve.points).toEqual(expected.map((p) => ({ step: p.step, loss: p.loss })))
      })
    ))

  it("names each line that is not a log point (torn JSON, wrong fields) by its 1-based number and keeps the rest", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            point.map((p) => ({ ok: true as const, text: line(p) })),
            fc.constantFrom('{"step":1', '{"step":"x","loss":1}', "[]", '{"loss":2}').map((text) => ({ ok: false as const, text }))
          )
        ),
        (entries) => {
          const curve = parseCurve("r", entries.map((e) => e.text).join("\n"))
          expect(curve.skipped).toEqual(entries.flatMap((e, i) => (e.ok ? [] : [i + 1])))
          // The garbage changes nothing else: the curve is that of the good lines alone.
          expect(curve.points).toEqual(
            parseCurve(
              "r",
              entries
                .filter((e) => e.ok)
                .map((e) => e.text)
                .join("\n")
            ).points
          )
        }
      )
    ))

  it("thinning keeps at most the limit, both ends, and the order", () =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 300 }), (n, max) => {
        const points = Array.from({ length: n }, (_, i) => ({ step: i * 10, loss: 1 / (i + 1) }))
        const kept = thin(points, max)
        expect(kept.length).toBe(Math.min(n, max))
        if (n > 0 && max === 1) expect(kept[0]).toBe(points[n - 1])
        if (n > 0 && max >= 2) {
          expect(kept[0]).toBe(points[0])
          expect(kept[kept.length - 1]).toBe(points[n - 1])
        }
        for (let i = 1; i < kept.length; i++) expect(kept[i]!.step).toBeGreaterThan(kept[i - 1]!.step)
      })
    ))

  it("the last quarter's gain is the loss's fall over what the final loss leaves stored", () =>
    fc.assert(
      fc.property(fc.double({ min: 0.5, max: 7, noNaN: true }), fc.double({ min: 0, max: 0.5, noNaN: true }), (end, fall) => {
        const H = 11 * Math.LN2 // V = 2048: 11 bits per token
        const curve = parseCurve("r", falling(end + 4 * fall, end))
        const q = lastQuarter(curve.points, H)!
        // Linear fall: the last quarter (steps 750 → 1000) falls by a quarter of the total, exactly, by the line.
        expect(q.fall).toBeCloseTo(fall, 9)
        expect(q.gain).toBeCloseTo(fall / (H - end), 9)
        expect(lastQuarter(curve.points, null)!.gain).toBeUndefined()
      })
    ))

  it("mini-batch noise is not read as a fall: a flat curve alternating ±ε falls by far less than the 2ε two points would give", () =>
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 0.5, noNaN: true }), (eps) => {
        const text = Array.from({ length: 61 }, (_, i) => line({ step: 50 * i, loss: 5 + (i % 2 === 1 ? eps : -eps) })).join("\n")
        const q = lastQuarter(parseCurve("r", text).points, null)!
        expect(Math.abs(q.fall)).toBeLessThan(0.5 * eps)
      })
    ))

  it("the report warns about runs still gaining and only those, and names torn logs", () => {
    const runs = [result("aaa", 96, 704), result("bbb", 768, 704), result("ccc", 1536, 704)]
    const curves = [
      // Memorized whole: a fall of 0.02 at loss 0.1 adds 0.3% to what is stored.
      parseCurve("aaa", falling(0.18, 0.1)),
      // At capacity and still learning: 0.2 nats/token at loss 3.5 is +4.8%.
      parseCurve("bbb", falling(4.3, 3.5)),
      parseCurve("ccc", `${falling(6, 5.99)}\n{"step":`)
    ]
    const [section] = curveSection(runs, curves)
    expect(section!.title).toBe("Training loss vs steps")
    const notes = section!.headline!.notes!
    expect(notes[0]).toMatch(/^1 of 3 runs was still gaining .*\(N=768\)/)
    expect(notes[0]).toContain(`${100 * STILL_GAINING.gain}%`)
    expect(notes[1]).toBe("ccc/train-log.jsonl: line 22 did not decode as {step, loss} and is left out of the curve.")
    expect(section!.table!.rows.map((r) => r[0])).toEqual(["N=96", "N=768", "N=1536"])
    expect(section!.table!.rows[1]![4]).toBeCloseTo((100 * 0.2) / (11 * Math.LN2 - 3.5), 1)
    // Unknown entropy (text): the relative fall decides, and the gain column is empty.
    const [text] = curveSection([result("aaa", 96, null)], [parseCurve("aaa", falling(0.18, 0.1))])
    expect(text!.table!.rows[0]![4]).toBeNull()
    expect(text!.headline!.notes![0]).toMatch(/^1 of 1 run was still gaining/)
    // No log at all (a model loaded, not trained): no section.
    expect(curveSection(runs, [])).toEqual([])
  })
})
