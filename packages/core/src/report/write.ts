/**
 * report.html (self-contained: charts as inline SVG) and report.md (the same
 * tables) for an experiment folder. Charts and tables come from the metric
 * and law plugins the runs used; core adds the runs table and provenance.
 */
import { Effect } from "effect"
import type { Json, LawFit, RunResult } from "../contracts.ts"
import type { ReportSection } from "../plugin.ts"
import type { RegistryShape } from "../registry.ts"
import type { RunStore } from "../store.ts"
import { renderChartSvg } from "./render-chart.ts"
import { summaryCells, summaryHeader, summaryRows } from "./summary.ts"

export interface ReportRenderOptions {
  readonly title?: string | undefined
  readonly topSamples: number
}

/** Sections every plugin used by these runs (and these law fits) contributes. */
export const collectSections = (
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape
): ReadonlyArray<ReportSection & { readonly source: string }> => {
  const sections: Array<ReportSection & { source: string }> = []
  const metricKinds = new Set<string>()
  for (const r of results) for (const k of Object.keys(r.metrics)) metricKinds.add(k)
  for (const kind of [...metricKinds].sort()) {
    const plugin = registry.find("metric", kind)
    if (plugin?.report) for (const s of plugin.report(results)) sections.push({ ...s, source: `metric ${kind}` })
  }
  for (const [name, fit] of Object.entries(laws)) {
    const plugin = registry.find("law", name)
    if (fit && typeof fit === "object" && "error" in fit && Object.keys(fit).length === 1) {
      sections.push({ title: `Law ${name}: not fitted`, description: String(fit.error), source: `law ${name}` })
      continue
    }
    if (plugin?.report) for (const s of plugin.report(fit, results)) sections.push({ ...s, source: `law ${name}` })
  }
  return sections
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)
const cell = (v: Json): string => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null ? "—" : typeof v === "string" ? v : JSON.stringify(v))
const mdCell = (v: Json) => cell(v).replace(/\|/g, "\\|").replace(/\n/g, " ")

const htmlTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Json>>) =>
  `<table><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(cell(v))}</td>`).join("")}</tr>`).join("")
  }</tbody></table>`

const mdTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Json>>) =>
  [`| ${columns.join(" | ")} |`, `| ${columns.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.map(mdCell).join(" | ")} |`)].join("\n")

const style = `body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}.source{color:#888;font-size:12px}.chart svg{max-width:100%;height:auto}`

export const renderReport = (
  experiment: string,
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape,
  options: ReportRenderOptions
) =>
  Effect.gen(function*() {
    const title = options.title ?? `memorize report: ${experiment}`
    const sections = collectSections(results, laws, registry)
    const runs = summaryRows(results).map(summaryCells)
    const html: Array<string> = [
      `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${style}</style></head><body>`,
      `<h1>${escapeHtml(title)}</h1>`,
      `<p>${results.length} complete run${results.length === 1 ? "" : "s"}. Generated ${new Date().toISOString()}.</p>`
    ]
    const md: Array<string> = [`# ${title}`, "", `${results.length} complete run${results.length === 1 ? "" : "s"}.`, ""]
    for (const s of sections) {
      html.push(`<section data-source="${escapeHtml(s.source)}"><h2>${escapeHtml(s.title)}</h2>`)
      md.push(`## ${s.title}`, "")
      if (s.description) {
        html.push(`<p>${escapeHtml(s.description)}</p>`)
        md.push(s.description, "")
      }
      if (s.chart) {
        const svg = yield* renderChartSvg(s.chart).pipe(Effect.catch((e) => Effect.succeed(`<p class="error">${escapeHtml(e.message)}</p>`)))
        html.push(`<figure class="chart">${svg}</figure>`)
        md.push(`*(chart: see report.html)*`, "")
      }
      if (s.table) {
        html.push(htmlTable(s.table.columns, s.table.rows))
        md.push(mdTable(s.table.columns, s.table.rows), "")
      }
      html.push(`<p class="source">from ${escapeHtml(s.source)}</p></section>`)
    }
    html.push(`<section><h2>Runs</h2>${htmlTable(summaryHeader, runs)}</section>`)
    md.push("## Runs", "", mdTable(summaryHeader, runs), "")
    const prov = results[0]?.provenance
    if (prov) {
      html.push(`<section><h2>Provenance (first run)</h2><pre>${escapeHtml(JSON.stringify(prov, null, 2))}</pre></section>`)
      md.push("## Provenance (first run)", "", "```json", JSON.stringify(prov, null, 2), "```", "")
    }
    html.push("</body></html>")
    return { html: html.join("\n"), markdown: md.join("\n") }
  })

/** Writes report.html and report.md into the experiment folder (atomically); returns their paths. */
export const writeReport = (
  store: RunStore,
  experiment: string,
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape,
  options: ReportRenderOptions
) =>
  Effect.gen(function*() {
    const { html, markdown } = yield* renderReport(experiment, results, laws, registry, options)
    const a = yield* store.writeFile("report.html", html)
    const b = yield* store.writeFile("report.md", markdown)
    return [a, b] as const
  })
