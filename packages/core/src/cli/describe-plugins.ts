/** `memorize plugins`: every registered plugin with its config fields, types and defaults. */
import type { Schema } from "effect"
import { configJsonSchema } from "../json-schema/config.ts"
import { kindOrder } from "../json-schema/sections.ts"
import type { Plugin, PluginKind } from "../plugin.ts"

export interface FieldDescription {
  readonly name: string
  readonly type: string
  readonly required: boolean
  /** JSON of the default, when the field has one. */
  readonly default?: string
  /** The field's `description` annotation: what it does, its unit. */
  readonly description?: string
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
    return `{ ${Object.entries(js.properties)
      .map(([k, v]) => `${k}${(js.required ?? []).includes(k) ? "" : "?"}: ${typeOf(v)}`)
      .join(", ")} }`
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
    // The same JSON Schema editors get from `memorize schema`: types, bounds, defaults and descriptions.
    doc = configJsonSchema(config as Schema.Top).schema
  } catch {
    return []
  }
  const props: Record<string, any> = doc?.properties ?? {}
  const required: Array<string> = doc?.required ?? []
  return Object.entries(props).map(([name, js]) => ({
    name,
    type: typeOf(js),
    required: required.includes(name),
    ...(js?.default !== undefined ? { default: JSON.stringify(js.default) } : {}),
    ...(typeof js?.description === "string" ? { description: js.description } : {})
  }))
}

const slot: Record<PluginKind, string> = { dataset: "dataset:", model: "model:", trainer: "train:", metric: "metrics: [...]", law: "laws: [...]" }

export const describePlugins = (plugins: ReadonlyArray<Plugin>): string => {
  const lines: Array<string> = []
  for (const kind of kindOrder) {
    const list = plugins.filter((p) => p.kind === kind).sort((a, b) => a.name.localeCompare(b.name))
    if (list.length === 0) continue
    lines.push(`${kind} plugins (spec section ${slot[kind]})`)
    for (const p of list) {
      lines.push(`  ${p.name} — ${p.description}`)
      for (const f of describeFields(p.config)) {
        lines.push(`      ${f.name}: ${f.type}${f.required ? "  (required)" : f.default !== undefined ? `  = ${f.default}` : "  (optional)"}`)
        if (f.description) lines.push(`          ${f.description}`)
      }
    }
    lines.push("")
  }
  return lines.join("\n").trimEnd()
}
