/** Vega-Lite spec → SVG string, rendered headless by vega (no browser, no canvas). */
import { Effect } from "effect"
import * as vega from "vega"
import { compile } from "vega-lite"
import type { Json } from "../contracts.ts"

export const renderChartSvg = (spec: { readonly [k: string]: Json }): Effect.Effect<string, Error> =>
  Effect.tryPromise({
    try: async () => {
      const compiled = compile({ width: 520, height: 300, ...(spec as any) }).spec
      const view = new vega.View(vega.parse(compiled), { renderer: "none" })
      return await view.toSVG()
    },
    catch: (e) => new Error(`chart could not be rendered: ${(e as Error)?.message ?? String(e)}`)
  })
