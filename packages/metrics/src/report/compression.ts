/**
 * Report section of the `compression` metric: memorization as estimated from
 * code lengths beside memorization verified by real code words that decoded
 * back, per run, with what separates them (coder overhead, quantization).
 */
import type { Json, ReportSection, RunResult } from "@memorize/core"
import { at, groupLabel } from "../laws/results.ts"

const num = (v: Json | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null)
const perSeq = (m: Json, key: string): number | null => {
  const total = num(at(m, key))
  const count = num(at(m, "train.count"))
  return total === null || count === null || count === 0 ? null : total / count
}

export const compressionReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const runs = results.filter((r) => r.metrics["compression"] !== undefined)
  if (runs.length === 0) return []
  const rows = runs.map((r) => {
    const m = r.metrics["compression"] as Json
    const estimate = num(at(m, "estimateBits"))
    const verified = num(at(m, "verifiedBits"))
    const checked = num(at(m, "train.roundTrip.checked"))
    const exact = num(at(m, "train.roundTrip.exact"))
    return [
      r.runId,
      groupLabel(r),
      r.dataset.trainCount,
      estimate,
      verified,
      estimate !== null && verified !== null && estimate > 0 ? verified / estimate : null,
      num(at(m, "train.compressedBits.meanBits")),
      num(at(m, "train.codeLength.meanBits")),
      num(at(m, "train.overheadBitsPerSequence")),
      perSeq(m, "train.quantizationLossBits"),
      perSeq(m, "train.quantizationBoundBits"),
      checked !== null && exact !== null ? `${exact}/${checked}` : null
    ] as Array<Json>
  })
  const points = runs.flatMap((r) => {
    const m = r.metrics["compression"] as Json
    return (["estimateBits", "verifiedBits"] as const).flatMap((k) => {
      const v = num(at(m, k))
      return v === null ? [] : [{ trainCount: r.dataset.trainCount, series: `${groupLabel(r)} · ${k === "estimateBits" ? "estimate" : "verified"}`, bits: v }]
    })
  })
  return [
    {
      title: "Memorization: estimate vs verified (compression)",
      description:
        "Estimate: Σ max(0, H(x) − L(x)) from code lengths. Verified: Σ max(0, H(x) − C(x)), with C(x) the length of a real arithmetic code word " +
        "of x under the model that decoded back to x (round trip). They differ by the coder's overhead (≤ 2 bits per sequence plus truncation) and " +
        "the quantization of probabilities to integer frequencies (measured, with its bound). H is the exact entropy, or the reference model's code length.",
      ...(points.length === 0
        ? {}
        : {
            chart: {
              $schema: "https://vega.github.io/schema/vega-lite/v5.json",
              width: 480,
              height: 300,
              data: { values: points },
              mark: { type: "line", point: true },
              encoding: {
                x: { field: "trainCount", type: "quantitative", scale: { type: "log" }, title: "training sequences" },
                y: { field: "bits", type: "quantitative", title: "memorized bits (members)", aggregate: "mean" },
                color: { field: "series", type: "nominal" }
              }
            }
          }),
      table: {
        columns: [
          "run",
          "model",
          "training sequences",
          "estimate (bits)",
          "verified (bits)",
          "verified / estimate",
          "compressed bits/seq",
          "code length bits/seq",
          "overhead bits/seq",
          "quantization loss bits/seq",
          "quantization bound bits/seq",
          "round trip"
        ],
        rows
      }
    }
  ]
}
