/**
 * Opens a report in a real headless Chromium (Debian's) and reads back what
 * a reader sees: every chart (size, drawn marks, axis titles, legend text as
 * rendered, the series it should name, whether the live view replaced the
 * static SVG), the headline block's values, and what hovering a mark and
 * clicking a legend entry do.
 */
import * as fs from "node:fs"
import { chromium, type Page } from "playwright-core"
import { pathToFileURL } from "node:url"

export interface ChartCheck {
  readonly title: string
  readonly width: number
  readonly height: number
  /** Drawn data marks (points, lines, bars, areas) in the chart. */
  readonly marks: number
  /** Axis titles as rendered. */
  readonly axisTitles: ReadonlyArray<string>
  /** Legend entries as rendered (after any truncation the renderer applied). */
  readonly legendLabels: ReadonlyArray<string>
  /** The series the chart's data holds (figure's data-series). */
  readonly series: ReadonlyArray<string>
  /** The live (interactive) view replaced the static SVG. */
  readonly live: boolean
}

export interface FactCheck {
  readonly label: string
  /** The value as displayed. */
  readonly text: string
  /** data-value: the number behind the displayed text. */
  readonly value: number | undefined
  /** data-laws-path: where in laws.json the value comes from. */
  readonly lawsPath: string | undefined
  readonly experiment: string | undefined
}

export interface ReportCheck {
  readonly charts: ReadonlyArray<ChartCheck>
  readonly facts: ReadonlyArray<FactCheck>
  /** Paragraphs on how far the runs are from the paper's regime. */
  readonly regimeNotes: ReadonlyArray<string>
  /** The headline block comes before every chart. */
  readonly headlineFirst: boolean
  /** Text of the tooltip after hovering a data mark (undefined: none appeared). */
  readonly tooltip: string | undefined
  /** Marks dimmed after clicking the first legend entry of a chart with several series. */
  readonly dimmedAfterLegendClick: number
  /** Page errors and console errors. */
  readonly errors: ReadonlyArray<string>
}

export const chromiumPath = () => {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (fs.existsSync(p)) return p
  throw new Error("Chromium not found: scripts/test installs Debian's chromium (apt-get install chromium)")
}

const MARKS = "g.role-mark path, g.role-mark line, g.role-mark rect"

const readCharts = (page: Page) =>
  page.$$eval(
    "figure.chart",
    (figures, marksSel) =>
      figures.map((f) => {
        const svg = f.querySelector(".live svg") ?? f.querySelector("svg")
        const box = svg?.getBoundingClientRect()
        const texts = (sel: string) => (svg ? [...svg.querySelectorAll(sel)].map((t) => t.textContent ?? "") : [])
        return {
          title: f.closest("section")?.querySelector("h2")?.textContent ?? "",
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          marks: svg ? svg.querySelectorAll(marksSel).length : 0,
          axisTitles: texts("g.role-axis-title text"),
          legendLabels: texts("g.role-legend-label text"),
          series: JSON.parse(f.getAttribute("data-series") ?? "[]") as Array<string>,
          live: f.getAttribute("data-live") === "true"
        }
      }),
    MARKS
  )

export const inspectReport = async (htmlFile: string, screenshot?: string): Promise<ReportCheck> => {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`))
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`)
    })
    // The report must not reach the network: any request other than the file itself is an error.
    await page.route("**/*", (route) => {
      if (route.request().url().startsWith("file:")) return route.continue()
      errors.push(`network request: ${route.request().url()}`)
      return route.abort()
    })
    await page.goto(pathToFileURL(htmlFile).href)
    // Live views replace the static SVGs once vega has drawn them.
    // (Page-side code as strings: this project type-checks without the DOM library.)
    await page.waitForFunction(
      `[...document.querySelectorAll("figure.chart[data-spec]")].every((f) => f.hasAttribute("data-live") || f.hasAttribute("data-live-error"))`,
      undefined,
      { timeout: 30_000 }
    )
    const charts = await readCharts(page)
    const facts = await page.$$eval(".headline .fact", (cards) =>
      cards.map((c) => ({
        label: c.querySelector(".fact-label")?.textContent ?? "",
        text: c.querySelector(".fact-value .v")?.textContent ?? "",
        value: c.hasAttribute("data-value") ? Number(c.getAttribute("data-value")) : undefined,
        lawsPath: c.getAttribute("data-laws-path") ?? undefined,
        experiment: c.closest("section.headline")?.getAttribute("data-experiment") ?? undefined
      }))
    )
    const regimeNotes = await page.$$eval(".headline .regime", (ps) => ps.map((p) => p.textContent ?? ""))
    const headlineFirst = (await page.evaluate(`(() => {
      const h = document.querySelector("section.headline")
      const f = document.querySelector("figure.chart")
      return h !== null && (f === null || (h.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0)
    })()`)) as boolean
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true })

    // Hover: the first point mark of a live chart shows a tooltip with its values.
    let tooltip: string | undefined
    const point = page.locator("figure.chart .live g.mark-symbol.role-mark path").first()
    if ((await point.count()) > 0) {
      await point.scrollIntoViewIfNeeded()
      await point.hover({ force: true })
      await page
        .waitForFunction(`document.querySelector(".tooltip") !== null && !document.querySelector(".tooltip").hidden`, undefined, { timeout: 5_000 })
        .catch(() => undefined)
      tooltip = (await page.evaluate(`(() => {
        const t = document.querySelector(".tooltip")
        return t && !t.hidden ? t.innerText : undefined
      })()`)) as string | undefined
    }
    // Toggle: clicking a legend entry dims the other series.
    let dimmedAfterLegendClick = 0
    const index = charts.findIndex((c) => c.live && c.legendLabels.length > 1)
    if (index >= 0) {
      const fig = page.locator("figure.chart").nth(index)
      const entry = fig.locator(".live g.role-legend-symbol path").first()
      await entry.scrollIntoViewIfNeeded()
      await entry.click({ force: true })
      await page.waitForTimeout(300)
      dimmedAfterLegendClick = await fig.evaluate(
        (f, sel) => [...f.querySelectorAll(`.live ${sel}`)].filter((m) => Number(m.getAttribute("opacity") ?? "1") < 0.5).length,
        MARKS
      )
    }
    return { charts, facts, regimeNotes, headlineFirst, tooltip, dimmedAfterLegendClick, errors }
  } finally {
    await browser.close()
  }
}

/** Every chart of a report as rendered (the check the end-to-end tests make). */
export const checkReportInChromium = async (htmlFile: string, screenshot?: string): Promise<ReadonlyArray<ChartCheck>> =>
  (await inspectReport(htmlFile, screenshot)).charts
