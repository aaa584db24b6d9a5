/**
 * report.html (one self-contained file: the answers first, then every chart
 * live with tooltips and series toggles, static SVG underneath for readers
 * without JavaScript) and report.md (the same answers and tables, charts as
 * SVG files beside it). Charts, tables and headline answers come from the
 * metric and law plugins the runs used; core lays them out and adds the runs
 * table, sizes and provenance. Several experiments can share one report,
 * drawn on the same axes with the experiment as a series.
 */
import { Effect, FileSystem } from "effect"
import { StoreError } from "../errors.ts"
import * as NodePath from "node:path"
import type { Json, LawFit, RunResult } from "../contracts.ts"
import type { RegistryShape } from "../registry.ts"
import { makeRunStore, type RunStore } from "../store.ts"
import { decodeOutput } from "../plugin-output.ts"
import { seriesNames } from "./chart-frame.ts"
import { mergeSections, type SourcedSection } from "./compare.ts"
import { type Curve, curveSection, readCurves } from "./curves.ts"
import { formatNumber, headlineHtml, headlineMarkdown, type PlacedFact } from "./headline.ts"
import { bootstrapScript, scriptJson, vegaRuntime } from "./interactive.ts"
import { renderChart } from "./render-chart.ts"
import { summaryCells, summaryColumns, summaryHeader, summaryRows } from "./summary.ts"

export interface ReportRenderOptions {
  readonly title?: string | undefined
  readonly topSamples: number
}

/** One experiment's part of a report. */
export interface ReportInput {
  /** The experiment's name, or what tells it apart from the others shown. */
  readonly label: string
  /** The spec's `description`, shown under the title: what the experiment is and what to read from it. */
  readonly description?: string | undefined
  readonly results: ReadonlyArray<RunResult>
  readonly laws: { readonly [law: string]: LawFit }
  /** The runs' train-log.jsonl curves (none: no training-curve section). */
  readonly curves?: ReadonlyArray<Curve> | undefined
}

/** Sections every plugin used by these runs (and these law fits) contributes. */
export const collectSections = (
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape
): ReadonlyArray<SourcedSection> => {
  const sections: Array<SourcedSection> = []
  const metricKinds = new Set<string>()
  for (const r of results) for (const k of Object.keys(r.metrics)) metricKinds.add(k)
  for (const [name, fit] of Object.entries(laws)) {
    const plugin = registry.find("law", name)
    if (fit && typeof fit === "object" && "error" in fit && Object.keys(fit).length === 1) {
      sections.push({ title: `Law ${name}: not fitted`, description: String(fit.error), source: `law ${name}` })
      continue
    }
    if (plugin === undefined) {
      // laws.json names a law this process does not have (a plugin module the spec loaded): say so.
      sections.push({
        title: `Law ${name}: no plugin to draw it`,
        description: `laws.json has a "${name}" fit, but no law plugin of that name is registered here (registered: ${registry.names("law").join(", ") || "none"}).`,
        source: `law ${name}`
      })
      continue
    }
    if (plugin.report === undefined) continue
    const decoded = decodeOutput(plugin.output, fit)
    if (!decoded.ok) {
      // A fit stored by another version of the law (or edited): name it rather than draw it wrong.
      sections.push({
        title: `Law ${name}: stored fit does not match the plugin`,
        description: `laws.json's "${name}" fit does not decode by the law's output Schema: ${decoded.problem}. Run the experiment again (completed runs are kept) to refit it.`,
        source: `law ${name}`
      })
      continue
    }
    for (const s of plugin.report(decoded.value, results)) sections.push({ ...s, source: `law ${name}` })
  }
  // Laws first: they hold the answers; the per-run metric charts come after.
  for (const kind of [...metricKinds].sort()) {
    const plugin = registry.find("metric", kind)
    if (plugin === undefined) {
      sections.push({
        title: `Metric ${kind}: no plugin to draw it`,
        description: `The runs have "${kind}" values, but no metric plugin of that name is registered here (registered: ${registry.names("metric").join(", ") || "none"}).`,
        source: `metric ${kind}`
      })
      continue
    }
    const mismatched = results.flatMap((r) => {
      const values = r.metrics[kind]
      if (values === undefined) return []
      const decoded = decodeOutput(plugin.output, values)
      return decoded.ok ? [] : [`${r.runId}: ${decoded.problem}`]
    })
    if (mismatched.length > 0) {
      sections.push({
        title: `Metric ${kind}: stored values do not match the plugin`,
        description: `${mismatched.length} run${mismatched.length === 1 ? "'s" : "s'"} result.json values do not decode by the metric's output Schema (another version of the plugin wrote them?): ${mismatched.slice(0, 3).join("; ")}${mismatched.length > 3 ? "; …" : ""}`,
        source: `metric ${kind}`
      })
    }
    if (plugin.report) for (const s of plugin.report(results)) sections.push({ ...s, source: `metric ${kind}` })
  }
  return sections
}

/** Headline facts of the sections, with their laws.json paths. */
export const placedFacts = (sections: ReadonlyArray<SourcedSection>): { facts: Array<PlacedFact>; notes: Array<string> } => {
  const facts: Array<PlacedFact> = []
  const notes: Array<string> = []
  for (const s of sections) {
    if (s.headline === undefined) continue
    const law = s.source.startsWith("law ") ? s.source.slice(4) : undefined
    for (const f of s.headline.facts) {
      facts.push({ ...f, from: s.source, ...(law !== undefined && f.source !== undefined ? { lawsPath: `${law}.${f.source}` } : {}) })
    }
    notes.push(...(s.headline.notes ?? []))
  }
  return { facts, notes }
}

const range = (xs: ReadonlyArray<number>, unit: string) => {
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  return lo === hi ? `${formatNumber(lo, 4)} ${unit}` : `${formatNumber(lo, 4)} – ${formatNumber(hi, 4)} ${unit}`
}

/** What every report can say from the run results alone: how big the models and datasets were. */
export const sizeFacts = (results: ReadonlyArray<RunResult>): Array<PlacedFact> => {
  if (results.length === 0) return []
  const params = [...new Set(results.map((r) => r.model.paramCount))].sort((a, b) => a - b)
  const counts = [...new Set(results.map((r) => r.dataset.trainCount))].sort((a, b) => a - b)
  const shapes = [
    ...new Set(
      results.map(
        (r) =>
          `S = ${r.dataset.seqLen} tokens, V = ${r.dataset.vocabSize}` +
          (r.dataset.entropyBitsPerSequence === null ? "" : `, ${formatNumber(r.dataset.entropyBitsPerSequence, 4)} bits per sequence`)
      )
    )
  ]
  const steps = results.flatMap((r) => (r.train === null ? [] : [r.train.steps]))
  return [
    {
      label: "model sizes",
      value: range(params, "parameters"),
      detail:
        `${params.length} size${params.length === 1 ? "" : "s"}: ${params.map((p) => formatNumber(p, 4)).join(", ")}` +
        (steps.length > 0 ? `; ${range(steps, "training steps")}` : ""),
      from: "run results"
    },
    {
      label: "dataset sizes",
      value: range(counts, "sequences"),
      detail: `${results.length} run${results.length === 1 ? "" : "s"}; ${shapes.join("; ")}`,
      from: "run results"
    }
  ]
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)
const cell = (v: Json): string =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null ? "—" : typeof v === "string" ? v : JSON.stringify(v)
const mdCell = (v: Json) => cell(v).replace(/\|/g, "\\|").replace(/\n/g, " ")
const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 48) || "chart"

const htmlTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Json>>, rowTitles?: ReadonlyArray<string>) =>
  `<table><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r, i) => {
      const title = rowTitles?.[i]
      return `<tr${title ? ` title="${escapeHtml(title)}"` : ""}>${r.map((v) => `<td${typeof v === "string" ? ` class="label"` : ""}>${escapeHtml(cell(v))}</td>`).join("")}</tr>`
    })
    .join("")}</tbody></table>`

const mdTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Json>>) =>
  [`| ${columns.join(" | ")} |`, `| ${columns.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.map(mdCell).join(" | ")} |`)].join("\n")

const style = `body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr[title]:hover{background:#fafae6}td.label{text-align:left;white-space:nowrap}details pre{text-align:left;font-size:12px;margin:4px 0}
figure{margin:1em 0}.source{color:#888;font-size:12px}.chart svg{max-width:100%;height:auto}.chart .hint{color:#888;font-size:12px;margin:0}
.headline{border:1px solid #cfd8e3;background:#f7f9fc;border-radius:6px;padding:.2em 1em 1em;margin:1em 0}.headline h2{border:none;margin-top:.6em}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px}
.fact{background:#fff;border:1px solid #e1e6ee;border-radius:5px;padding:8px 10px}.fact-label{font-size:12px;color:#556;text-transform:none}
.fact-value{font-size:20px;font-weight:600}.fact-value .unit{font-size:13px;font-weight:400;color:#556}
.fact-detail{font-size:12px;color:#333}.fact-paper{font-size:12px;color:#8a3b12}.fact-source{font-size:11px;color:#999}
.regime{background:#fff4e0;border-left:4px solid #e0a030;padding:6px 10px;margin:10px 0 0}.note{color:#8a3b12}
nav.toc{font-size:13px;columns:2}nav.toc a{color:#235}
.tooltip{position:absolute;z-index:10;background:#fff;border:1px solid #999;border-radius:4px;padding:4px 8px;font-size:12px;pointer-events:none;box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:420px}`

export interface RenderedReport {
  readonly html: string
  readonly markdown: string
  /** Static charts for report.md, by file name relative to it. */
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>
}

/** Renders one report from one or more experiments. */
export const renderReports = (inputs: ReadonlyArray<ReportInput>, registry: RegistryShape, options: ReportRenderOptions) =>
  Effect.gen(function* () {
    const several = inputs.length > 1
    const title = options.title ?? `memorize report: ${inputs.map((i) => i.label).join(" vs ")}`
    const perExperiment = inputs.map((i) => ({
      label: i.label,
      results: i.results,
      // The plugins' sections, then how training went (core writes the log, so core draws it).
      sections: [...collectSections(i.results, i.laws, registry), ...curveSection(i.results, i.curves ?? []).map((s) => ({ ...s, source: "train-log.jsonl" }))]
    }))
    const runtime = yield* vegaRuntime.pipe(Effect.result)
    const totalRuns = inputs.reduce((a, i) => a + i.results.length, 0)
    const intro = `${totalRuns} complete run${totalRuns === 1 ? "" : "s"}${several ? ` in ${inputs.length} experiments (${inputs.map((i) => `${i.label}: ${i.results.length}`).join(", ")}); each experiment is a series on shared axes` : ""}.`
    const html: Array<string> = [
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${style}</style></head><body>`,
      `<h1>${escapeHtml(title)}</h1>`,
      `<p>${escapeHtml(intro)} Generated ${new Date().toISOString()}.</p>`
    ]
    const md: Array<string> = [`# ${title}`, "", intro, ""]
    // The spec author's own words first: a reader learns what the experiment is before its numbers.
    for (const i of inputs) {
      if (i.description === undefined || i.description.trim() === "") continue
      const text = several ? `${i.label}: ${i.description.trim()}` : i.description.trim()
      html.push(`<p class="description">${escapeHtml(text)}</p>`)
      md.push(`> ${text.replace(/\n+/g, " ")}`, "")
    }
    if (runtime._tag === "Failure") {
      html.push(`<p class="note">Charts below are static (no tooltips or series toggles): ${escapeHtml(runtime.failure.message)}</p>`)
    }
    for (const e of perExperiment) {
      const { facts, notes } = placedFacts(e.sections)
      const all = [...facts, ...sizeFacts(e.results)]
      const heading = several ? `${e.label}: what it found` : "What this experiment found"
      html.push(headlineHtml(all, notes, heading).replace("<section ", `<section data-experiment="${escapeHtml(e.label)}" `))
      md.push(headlineMarkdown(all, notes, heading), "")
    }
    const sections = mergeSections(perExperiment).filter((s) => s.chart !== undefined || s.table !== undefined || s.headline === undefined)
    const ids = sections.map((s, i) => `s${i + 1}-${slug(s.title)}`)
    html.push(`<nav class="toc">${sections.map((s, i) => `<a href="#${ids[i]}">${escapeHtml(s.title)}</a>`).join("<br>")}<br><a href="#runs">Runs</a></nav>`)
    const charts: Array<{ file: string; svg: string }> = []
    for (const [i, s] of sections.entries()) {
      html.push(`<section id="${ids[i]}" data-source="${escapeHtml(s.source)}"><h2>${escapeHtml(s.title)}</h2>`)
      md.push(`## ${s.title}`, "")
      if (s.description) {
        html.push(`<p>${escapeHtml(s.description)}</p>`)
        md.push(s.description, "")
      }
      if (s.chart) {
        const rendered = yield* renderChart(s.chart).pipe(Effect.result)
        if (rendered._tag === "Failure") {
          html.push(`<p class="error">${escapeHtml(rendered.failure.message)}</p>`)
          md.push(`*(${rendered.failure.message})*`, "")
        } else {
          const file = `${CHARTS_DIR}/${ids[i]}.svg`
          charts.push({ file, svg: rendered.success.svg })
          const live = runtime._tag === "Success"
          html.push(
            `<figure class="chart"${live ? ` data-spec="${ids[i]}-spec"` : ""} data-series="${escapeHtml(JSON.stringify(seriesNames(s.chart)))}">` +
              (live ? `<div class="live"></div>` : "") +
              `<div class="static">${rendered.success.svg}</div>` +
              (live && seriesNames(s.chart).length > 1
                ? `<p class="hint">Hover a mark for its values; click legend entries to pick series (double-click clears).</p>`
                : "") +
              `</figure>` +
              (live ? `<script type="application/json" id="${ids[i]}-spec">${scriptJson(rendered.success.vega)}</script>` : "")
          )
          md.push(`![${s.title}](${file})`, "")
        }
      }
      if (s.table) {
        html.push(htmlTable(s.table.columns, s.table.rows, s.table.rowTitles))
        md.push(mdTable(s.table.columns, s.table.rows), "")
      }
      html.push(`<p class="source">from ${escapeHtml(s.source)}</p></section>`)
    }
    // The runs, named by what differs; the whole config on hover (row) or click (details).
    const columns = summaryColumns(
      inputs.flatMap((inp) => inp.results),
      registry
    )
    const runHeader = [...(several ? ["experiment"] : []), ...summaryHeader(columns)]
    const runRows = inputs.flatMap((inp) =>
      summaryRows(inp.results, columns).map((r) => ({ r, cells: [...(several ? [inp.label] : []), ...summaryCells(r, columns)] }))
    )
    html.push(
      `<section id="runs"><h2>Runs</h2><p>Hover a row for the run's whole resolved config, or open it in the last column.</p><table><thead><tr>${[
        ...runHeader,
        "config"
      ]
        .map((c) => `<th>${escapeHtml(c)}</th>`)
        .join("")}</tr></thead><tbody>${runRows
        .map(
          ({ r, cells }) =>
            `<tr title="${escapeHtml(r.config)}">${cells.map((c) => `<td${c === r.label ? ` class="label"` : ""}>${escapeHtml(c)}</td>`).join("")}<td><details><summary>config</summary><pre>${escapeHtml(r.config)}</pre></details></td></tr>`
        )
        .join("")}</tbody></table></section>`
    )
    md.push(
      "## Runs",
      "",
      mdTable(
        runHeader,
        runRows.map((x) => x.cells)
      ),
      ""
    )
    for (const inp of inputs) {
      const prov = inp.results[0]?.provenance
      if (prov === undefined) continue
      const heading = `Provenance (first run${several ? ` of ${inp.label}` : ""})`
      html.push(
        `<section><h2>${escapeHtml(heading)}</h2><details><summary>software, hardware and data fingerprint</summary><pre>${escapeHtml(JSON.stringify(prov, null, 2))}</pre></details></section>`
      )
      md.push(`## ${heading}`, "", "```json", JSON.stringify(prov, null, 2), "```", "")
    }
    if (runtime._tag === "Success") {
      html.push(`<script>${runtime.success}</script>`, `<script>${bootstrapScript}</script>`)
    }
    html.push("</body></html>")
    return { html: html.join("\n"), markdown: md.join("\n"), charts } satisfies RenderedReport
  })

/** One experiment's report (the form `run` writes); `description` is the spec's. */
export const renderReport = (
  experiment: string,
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape,
  options: ReportRenderOptions,
  description?: string,
  curves?: ReadonlyArray<Curve>
) => renderReports([{ label: experiment, results, laws, description, curves }], registry, options)

const CHARTS_DIR = "report-charts"

const writeAll = (store: RunStore, report: RenderedReport) =>
  Effect.gen(function* () {
    // Charts first, the report files last: a report never points at a chart not yet written.
    for (const c of report.charts) yield* store.writeFile(c.file, c.svg)
    const a = yield* store.writeFile("report.html", report.html)
    const b = yield* store.writeFile("report.md", report.markdown)
    // Charts of an earlier report that this one no longer has would mislead; they go.
    const fs = yield* FileSystem.FileSystem
    const dir = NodePath.join(store.dir, CHARTS_DIR)
    const current = new Set(report.charts.map((c) => NodePath.basename(c.file)))
    const present = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    for (const f of present) {
      if (f.endsWith(".svg") && !current.has(f)) {
        yield* fs
          .remove(NodePath.join(dir, f))
          .pipe(Effect.mapError((e) => new StoreError({ path: NodePath.join(dir, f), message: `cannot remove a stale chart: ${e.message}` })))
      }
    }
    return [a, b] as const
  })

/** Writes report.html, report.md and report-charts/ into the experiment folder (atomically); returns the report paths. */
export const writeReport = (
  store: RunStore,
  experiment: string,
  results: ReadonlyArray<RunResult>,
  laws: { readonly [law: string]: LawFit },
  registry: RegistryShape,
  options: ReportRenderOptions,
  description?: string
) =>
  readCurves(store, results).pipe(
    Effect.flatMap((curves) => renderReport(experiment, results, laws, registry, options, description, curves)),
    Effect.flatMap((r) => writeAll(store, r))
  )

/** Writes a report of several experiments into `outDir` (created when missing). */
export const writeComparisonReport = (outDir: string, inputs: ReadonlyArray<ReportInput>, registry: RegistryShape, options: ReportRenderOptions) =>
  Effect.gen(function* () {
    const report = yield* renderReports(inputs, registry, options)
    const abs = NodePath.resolve(outDir)
    // The store's atomic writer (temp + rename), on a folder that holds only this report.
    const out = yield* makeRunStore(NodePath.dirname(abs), NodePath.basename(abs))
    return yield* writeAll(out, report)
  })
