/**
 * Vega-Lite spec → a Vega spec (JSON, drawn live in report.html) and a static
 * SVG (drawn headless by vega: no browser, no canvas), for report.md and for
 * readers without JavaScript.
 */
import { Effect } from "effect"
import * as vega from "vega"
import { compile } from "vega-lite"
import type { Json } from "../contracts.ts"
import { frameChart } from "./chart-frame.ts"

export interface RenderedChart {
  /** The compiled Vega spec, for the live view. */
  readonly vega: vega.Spec
  /** The same chart as a static SVG. */
  readonly svg: string
}

export const renderChart = (spec: { readonly [k: string]: Json }): Effect.Effect<RenderedChart, Error> =>
  Effect.tryPromise({
    try: async () => {
      // Plugins' chart specs are JSON, checked by vega-lite's compiler rather than by a TypeScript type.
      const compiled = compile(frameChart(spec) as any).spec
      const view = new vega.View(vega.parse(compiled), { renderer: "none" })
      const svg = await view.toSVG()
      view.finalize()
      return { vega: compiled, svg }
    },
    catch: (e) => new Error(`chart could not be rendered: ${(e as Error)?.message ?? String(e)}`)
  })

/** Only the static SVG (kept for callers that need no live view). */
export const renderChartSvg = (spec: { readonly [k: string]: Json }): Effect.Effect<string, Error> => Effect.map(renderChart(spec), (c) => c.svg)
