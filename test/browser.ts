/**
 * Opens a report in a real headless Chromium (Debian's) and checks that
 * every chart rendered with data: an <svg> of non-zero size holding marks.
 */
import * as fs from "node:fs"
import { chromium } from "playwright-core"
import { pathToFileURL } from "node:url"

export interface ChartCheck {
  readonly title: string
  readonly width: number
  readonly height: number
  /** Drawn data marks (points, lines, bars, areas) in the chart. */
  readonly marks: number
}

export const chromiumPath = () => {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (fs.existsSync(p)) return p
  throw new Error("Chromium not found: scripts/test installs Debian's chromium (apt-get install chromium)")
}

export const checkReportInChromium = async (htmlFile: string, screenshot?: string): Promise<ReadonlyArray<ChartCheck>> => {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    await page.goto(pathToFileURL(htmlFile).href)
    const charts = await page.$$eval("figure.chart", (figures) =>
      figures.map((f) => {
        const svg = f.querySelector("svg")
        const box = svg?.getBoundingClientRect()
        const title = f.closest("section")?.querySelector("h2")?.textContent ?? ""
        const marks = svg ? svg.querySelectorAll("g.role-mark path, g.role-mark line").length : 0
        return { title, width: box?.width ?? 0, height: box?.height ?? 0, marks }
      }))
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true })
    return charts
  } finally {
    await browser.close()
  }
}
