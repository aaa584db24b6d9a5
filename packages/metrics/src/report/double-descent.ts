/**
 * Report of the double-descent law: where test loss peaks, in dataset bits /
 * capacity, against the paper's ratio of 1 (headline and chart).
 */
import type { HeadlineFact, Json, ReportSection, RunResult } from "@memorize/core"
import type { DescentGroup, DoubleDescentFit } from "../laws/double-descent-fit.ts"
import { formatNumber } from "@memorize/core"
import { namesOf } from "./labels.ts"
import { PAPER } from "./paper.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

export const doubleDescentReport = (fit: DoubleDescentFit, results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const { groups, points } = fit
  const names = namesOf(results)
  // The law names a model by its long label; any of its runs gives the short one.
  const short = (g: DescentGroup) => {
    const p = points.find((q) => q.model === g.model)
    return p === undefined ? names.modelOfLabel(g.model) : names.modelOfRun(p.runId)
  }
  const hover = (g: DescentGroup) => {
    const p = points.find((q) => q.model === g.model)
    return p === undefined ? g.model : names.configOfModel(p.runId)
  }
  const median = fit["peakRatioMedian"]
  const bound = fit["datasetBitsSource"] === "uniformBound"
  const facts: Array<HeadlineFact> =
    typeof median !== "number"
      ? []
      : [
          {
            label: `double-descent peak, dataset bits / capacity${groups.length > 1 ? ` (median of ${groups.length} models)` : ""}`,
            value: median,
            detail:
              groups.map((g) => `${short(g)}: ${formatNumber(g.peak.ratio, 3)} at N = ${formatNumber(g.peak.trainCount, 4)}`).join("; ") +
              (bound ? " — dataset bits bounded by N·S·log2 V (no exact entropy)" : ""),
            paper: `≈ ${PAPER.doubleDescentPeakRatio}`,
            source: "peakRatioMedian"
          }
        ]
  const values: Array<Json> = groups.flatMap((g) =>
    g.curve.map((c) => ({ model: short(g), ratio: c.ratio, testLoss: c.testLoss, N: c.trainCount, seeds: c.n }))
  )
  return [
    { title: "Double descent: answers", headline: { facts } },
    {
      title: "Double descent: test loss vs dataset bits / capacity",
      description: `Test loss (mean over seeds) per model. Median peak at ratio ${typeof median === "number" ? median.toPrecision(3) : "n/a"}; dashed: ratio 1, where the paper finds the peak.`,
      chart: {
        $schema: SCHEMA,
        width: 520,
        height: 300,
        layer: [
          {
            data: { values },
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "ratio", type: "quantitative", scale: { type: "log" }, title: "dataset bits / capacity (ratio, log scale)" },
              y: { field: "testLoss", type: "quantitative", title: "test loss (nats/token)" },
              color: { field: "model", type: "nominal", title: "model" }
            }
          },
          {
            data: { values: [{ ratio: PAPER.doubleDescentPeakRatio, reference: true }] },
            mark: { type: "rule", strokeDash: [4, 4], color: "#555" },
            encoding: { x: { field: "ratio", type: "quantitative" } }
          },
          {
            // At the top of the plot (y in pixels), so every experiment puts it in the same place.
            data: { values: [{ ratio: PAPER.doubleDescentPeakRatio, text: "paper: peak at ratio ≈ 1", reference: true }] },
            mark: { type: "text", align: "left", dx: 4, dy: 4, fontSize: 11, color: "#555" },
            encoding: { x: { field: "ratio", type: "quantitative" }, y: { value: 6 }, text: { field: "text", type: "nominal" } }
          }
        ]
      }
    },
    {
      title: "Test-loss peak per model",
      table: {
        columns: ["model", "peak ratio", "training sequences", "test loss (nats/token)"],
        rows: groups.map((g) => [short(g), g.peak.ratio, g.peak.trainCount, g.peak.testLoss]),
        rowTitles: groups.map(hover)
      }
    }
  ]
}
