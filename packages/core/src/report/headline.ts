/**
 * The headline block: the answers at the top of a report, each with its
 * uncertainty and the published value beside it. Plugins fill it (a law
 * knows what its fit means); core only lays it out, so the frame works for
 * any plugin's answers.
 */
import type { Json } from "../contracts.ts"

/** One answer: "α = 1.50 ± 0.06 bits/parameter (R² 0.999) — paper 3.51–3.83". */
export interface HeadlineFact {
  /** What the value is, e.g. "α, bits per parameter (fp32)". */
  readonly label: string
  readonly value: number | string
  /** Significant digits of a numeric value and its standard error (default 3). */
  readonly digits?: number
  readonly unit?: string
  /** Standard error of the value, when known. */
  readonly stdError?: number | null
  /** How it was obtained, or what goes with it: "linear fit over 3 models, R² = 0.999". */
  readonly detail?: string
  /** The published value to compare with, as text ("3.51 (bf16), 3.83 (fp32)"). */
  readonly paper?: string
  /**
   * Where the value is stored, relative to the plugin's law fit ("linear.alpha",
   * "groups.0.capacityBits"); core prefixes the law's name, giving the laws.json path.
   */
  readonly source?: string
}

/** What a plugin adds to the headline block. */
export interface Headline {
  readonly facts: ReadonlyArray<HeadlineFact>
  /** Sentences that qualify the answers (how far the runs are from the published regime). */
  readonly notes?: ReadonlyArray<string>
}

/** A number with `digits` significant digits, thousands separated, no exponent for ordinary magnitudes. */
export const formatNumber = (x: number, digits = 3): string => {
  if (!Number.isFinite(x)) return String(x)
  if (x === 0) return "0"
  const abs = Math.abs(x)
  if (Number.isInteger(x) && abs < 1e7) return x.toLocaleString("en-US")
  if (abs >= 1e7 || abs < 1e-4) return x.toExponential(Math.max(0, digits - 1)).replace("e+", "e")
  // Integers of more digits than asked for stay whole (4,335 bits, not 4.34e3).
  if (abs >= 10 ** digits) return Math.round(x).toLocaleString("en-US")
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)))
  return x.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

/** The standard error with as many decimals as the value shows (so "1.50 ± 0.06"). */
export const formatWithError = (value: number, stdError: number | null | undefined, digits = 3): string => {
  const v = formatNumber(value, digits)
  if (stdError === null || stdError === undefined || !Number.isFinite(stdError)) return v
  const decimals = (v.split(".")[1] ?? "").replace(/[^0-9]/g, "").length
  // An error far larger than the value (a fit that did not pin it down) gets its own two digits.
  const own = Math.abs(value) >= 1e7 || Math.abs(value) < 1e-4 || Math.abs(stdError) > 100 * Math.abs(value) || Math.abs(stdError) >= 1e7
  const tiny = Math.abs(stdError) > 0 && Math.abs(stdError) < 0.5 * 10 ** -decimals
  const e =
    own || tiny ? formatNumber(stdError, tiny ? 1 : 2) : stdError.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
  return `${v} ± ${e}`
}

export const factValueText = (f: HeadlineFact): string => (typeof f.value === "number" ? formatWithError(f.value, f.stdError, f.digits ?? 3) : f.value)

/** A headline fact coming from a plugin, with the laws.json path resolved. */
export interface PlacedFact extends HeadlineFact {
  readonly from: string
  /** Full laws.json path of a value stored there. */
  readonly lawsPath?: string
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

/** The block as HTML: one card per fact, the value machine-readable in data attributes. */
export const headlineHtml = (facts: ReadonlyArray<PlacedFact>, notes: ReadonlyArray<string>, heading: string): string => {
  const cards = facts.map((f) => {
    const data = [
      typeof f.value === "number" ? ` data-value="${esc(String(f.value))}"` : "",
      typeof f.value === "number" && f.stdError != null ? ` data-std-error="${esc(String(f.stdError))}"` : "",
      f.lawsPath ? ` data-laws-path="${esc(f.lawsPath)}"` : ""
    ].join("")
    return (
      `<div class="fact"${data}><div class="fact-label">${esc(f.label)}</div>` +
      `<div class="fact-value"><span class="v">${esc(factValueText(f))}</span>${f.unit ? ` <span class="unit">${esc(f.unit)}</span>` : ""}</div>` +
      (f.detail ? `<div class="fact-detail">${esc(f.detail)}</div>` : "") +
      (f.paper ? `<div class="fact-paper">paper: ${esc(f.paper)}</div>` : "") +
      `<div class="fact-source">${esc(f.lawsPath ? `laws.json ${f.lawsPath}` : f.from)}</div></div>`
    )
  })
  return (
    `<section class="headline" aria-label="${esc(heading)}"><h2>${esc(heading)}</h2><div class="facts">${cards.join("")}</div>` +
    notes.map((n) => `<p class="regime">${esc(n)}</p>`).join("") +
    `</section>`
  )
}

export const headlineMarkdown = (facts: ReadonlyArray<PlacedFact>, notes: ReadonlyArray<string>, heading: string): string => {
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ")
  const rows = facts.map(
    (f) => `| ${cell(f.label)} | ${cell(factValueText(f) + (f.unit ? ` ${f.unit}` : ""))} | ${cell(f.detail ?? "")} | ${cell(f.paper ?? "")} |`
  )
  return [`## ${heading}`, "", "| | value | how | paper |", "| --- | --- | --- | --- |", ...rows, "", ...notes.flatMap((n) => [`> ${n}`, ""])].join("\n")
}

/** The value at a dotted path of a laws.json object; numeric segments index arrays. */
export const atPath = (value: Json | undefined, path: string): Json | undefined => {
  let cur: Json | undefined = value
  for (const part of path.split(".")) {
    if (cur === null || cur === undefined || typeof cur !== "object") return undefined
    cur = Array.isArray(cur) ? (/^\d+$/.test(part) ? (cur as ReadonlyArray<Json>)[Number(part)] : undefined) : (cur as { readonly [k: string]: Json })[part]
  }
  return cur
}
