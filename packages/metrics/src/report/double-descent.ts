/** Report of the double-descent law: test loss vs dataset bits / capacity, per model. */
import type { LawFit, ReportSection, RunResult } from "@memorize/core"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

export const doubleDescentReport = (fit: LawFit, _results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const groups = (fit["groups"] ?? []) as unknown as ReadonlyArray<{ model: string; curve: ReadonlyArray<{ ratio: number; testLoss: number }>; peak: { ratio: number; testLoss: number; trainCount: number } }>
  const values = groups.flatMap((g) => g.curve.map((c) => ({ model: g.model, ratio: c.ratio, testLoss: c.testLoss })))
  return [
    {
      title: "Double descent: test loss vs dataset bits / capacity",
      description: `Median peak at ratio ${typeof fit["peakRatioMedian"] === "number" ? (fit["peakRatioMedian"] as number).toPrecision(3) : "n/a"}; the paper finds the peak near 1.`,
      chart: {
        $schema: SCHEMA,
        width: 480,
        height: 300,
        layer: [
          {
            data: { values },
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "ratio", type: "quantitative", scale: { type: "log" }, title: "dataset bits / capacity" },
              y: { field: "testLoss", type: "quantitative", title: "test loss (nats/token)" },
              color: { field: "model", type: "nominal" }
            }
          },
          { data: { values: [{ ratio: 1 }] }, mark: { type: "rule", strokeDash: [4, 4] }, encoding: { x: { field: "ratio", type: "quantitative" } } }
        ]
      }
    },
    {
      title: "Test-loss peak per model",
      table: { columns: ["model", "peak ratio", "training sequences", "test loss"], rows: groups.map((g) => [g.model, g.peak.ratio, g.peak.trainCount, g.peak.testLoss]) }
    }
  ]
}
