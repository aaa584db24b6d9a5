/** `memorize plugins`: every registered plugin with its config fields, types and defaults. */
import { Exit, Schema } from "effect"
import type { Plugin, PluginKind } from "../plugin.ts"

export interface FieldDescription {
  readonly name: string
  readonly type: string
  readonly required: boolean
  /** JSON of the default, when the field has one. */
  readonly default?: string
}

const typeOf = (js: any): string => {
  if (!js || typeof js !== "object") return "any"
  if (Array.isArray(js.anyOf)) {
    const parts = js.anyOf.filter((s: any) => s.type !== "null").map(typeOf)
    return [...new Set(parts)].join(" | ") || "null"
  }
  if (Array.isArray(js.enum)) return js.enum.map((v: unknown) => JSON.stringify(v)).join(" | ")
  if ("const" in js) return JSON.stringify(js.const)
  if (js.type === "array") return `${typeOf(js.items)}[]`
  if (js.type === "object" && js.properties) {
    return `{ ${Object.entries(js.properties).map(([k, v]) => `${k}${(js.required ?? []).includes(k) ? "" : "?"}: ${typeOf(v)}`).join(", ")} }`
  }
  const bounds: Array<string> = []
  if (js.exclusiveMinimum !== undefined) bounds.push(`> ${js.exclusiveMinimum}`)
  if (js.minimum !== undefined && js.minimum > -Number.MAX_SAFE_INTEGER) bounds.push(`≥ ${js.minimum}`)
  if (js.exclusiveMaximum !== undefined) bounds.push(`< ${js.exclusiveMaximum}`)
  if (js.maximum !== undefined && js.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`≤ ${js.maximum}`)
  return `${js.type ?? "any"}${bounds.length ? ` (${bounds.join(", ")})` : ""}`
}

export const describeFields = (config: Schema.Codec<any, any>): ReadonlyArray<FieldDescription> => {
  let doc: any
  try {
    doc = Schema.toJsonSchemaDocument(config as Schema.Top).schema
  } catch {
    return []
  }
  const props: Record<string, unknown> = doc?.properties ?? {}
  const required: Array<string> = doc?.required ?? []
  const fields = (config as any).fields as Record<string, Schema.Top> | undefined
  return Object.entries(props).map(([name, js]) => {
    let dflt: string | undefined
    if (fields?.[name]) {
      const exit = Schema.decodeUnknownExit(Schema.Struct({ [name]: fields[name]! }) as Schema.Top as Schema.Codec<any, unknown>)({})
      if (Exit.isSuccess(exit) && (exit.value as Record<string, unknown>)[name] !== undefined) {
        dflt = JSON.stringify((exit.value as Record<string, unknown>)[name])
      }
    }
    return { name, type: typeOf(js), required: required.includes(name) && dflt === undefined, ...(dflt !== undefined ? { default: dflt } : {}) }
  })
}

const order: ReadonlyArray<PluginKind> = ["dataset", "model", "trainer", "metric", "law"]
const slot: Record<PluginKind, string> = { dataset: "dataset:", model: "model:", trainer: "train:", metric: "metrics: [...]", law: "laws: [...]" }

export const describePlugins = (plugins: ReadonlyArray<Plugin>): string => {
  const lines: Array<string> = []
  for (const kind of order) {
    const list = plugins.filter((p) => p.kind === kind).sort((a, b) => a.name.localeCompare(b.name))
    if (list.length === 0) continue
    lines.push(`${kind} plugins (spec section ${slot[kind]})`)
    for (const p of list) {
      lines.push(`  ${p.name} — ${p.description}`)
      for (const f of describeFields(p.config)) {
        lines.push(`      ${f.name}: ${f.type}${f.required ? "  (required)" : f.default !== undefined ? `  = ${f.default}` : "  (optional)"}`)
      }
    }
    lines.push("")
  }
  return lines.join("\n").trimEnd()
}
