import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { checkReportInChromium } from "./browser.ts"
import { memorize, repoRoot } from "./cli-helpers.ts"

describe("report in a real browser", () => {
  it("every chart of report.html renders with data in headless Chromium", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-report-"))
    const file = path.join(dir, "spec.yaml")
    fs.writeFileSync(file, `name: report-check
plugins: [ "${repoRoot}/test/fixtures/unigram-plugins.ts" ]
dataset: { kind: toy-skewed, samples: 8 }
model: { kind: unigram }
train: { kind: counting }
metrics: [ { kind: toy-bits } ]
laws: [ { kind: run-count } ]
store: { saveModels: false }
sweep: { grid: { dataset.samples: [4, 8, 16] } }
`)
    expect(memorize(["run", file], { cwd: dir }).code).toBe(0)
    const html = path.join(dir, "runs/report-check/report.html")
    const charts = await checkReportInChromium(html, path.join(dir, "report.png"))
    expect(charts.length).toBeGreaterThan(0)
    for (const c of charts) {
      expect(c.width, c.title).toBeGreaterThan(100)
      expect(c.height, c.title).toBeGreaterThan(100)
      expect(c.marks, c.title).toBeGreaterThan(0)
    }
    expect(charts.find((c) => c.title === "Run count")?.marks).toBe(3)
  })
})
