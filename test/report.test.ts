import { describe, expect, it } from "@effect/vitest"
import * as path from "node:path"
import { checkReportInChromium } from "./browser.ts"
import { memorize, toySweepSpec, writeSpec } from "./cli-helpers.ts"

describe("report in a real browser", () => {
  it("every chart of report.html renders with data in headless Chromium", async () => {
    const { dir, file } = writeSpec(toySweepSpec("report-check", [4, 8, 16]))
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
