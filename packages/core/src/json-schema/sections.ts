/**
 * Plugin sections in JSON Schema: each plugin's config as an object with
 * its `kind` fixed, and each slot (`dataset:`, `train:`, an entry of
 * `metrics:`...) as the union of its kind's plugins, discriminated on
 * `kind`. Built from the registry's contracts only, like `memorize plugins`.
 */
import type { Plugin, PluginKind } from "../plugin.ts"
import { configJsonSchema } from "./config.ts"
import { isObject, type Json, pointer, renameRefs } from "./pointer.ts"

/** The order kinds are listed in (`memorize plugins`, the schema's `$defs`). */
export const kindOrder: ReadonlyArray<PluginKind> = ["dataset", "model", "trainer", "metric", "law"]

/** The `$defs` name of a plugin's section. */
export const sectionDefName = (plugin: Pick<Plugin, "kind" | "name">): string => `${plugin.kind}.${plugin.name}`

export interface SectionDef {
  readonly name: string
  readonly schema: Json
  /** Required fields (paths inside the section) taken out of `schema`, when asked to: a sweep may supply them. */
  readonly required: ReadonlyArray<ReadonlyArray<string>>
  /** The config's own named sub-schemas, renamed under this section's name. */
  readonly definitions: Readonly<Record<string, Json>>
}

/** Moves every `required` list of nested objects out of `schema` (but the section's `kind`), returning their paths. */
const takeRequired = (schema: Json, prefix: ReadonlyArray<string> = []): { schema: Json; required: Array<Array<string>> } => {
  if (!isObject(schema.properties)) return { schema, required: [] }
  const { required, ...rest } = schema
  const found: Array<Array<string>> = []
  const keep = Array.isArray(required) ? required.filter((r) => prefix.length === 0 && r === "kind") : []
  for (const r of Array.isArray(required) ? required : []) if (!keep.includes(r)) found.push([...prefix, String(r)])
  const properties: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema.properties)) {
    if (!isObject(v) || (k === "kind" && prefix.length === 0)) {
      properties[k] = v
      continue
    }
    const inner = takeRequired(v, [...prefix, k])
    properties[k] = inner.schema
    found.push(...inner.required)
  }
  return { schema: { ...rest, properties, ...(keep.length ? { required: keep } : {}) }, required: found }
}

/**
 * A plugin's section: `kind` (the plugin's name) plus its config's fields,
 * nothing else. A config that is not a plain struct is described loosely
 * (any fields), so the schema never refuses what `validate` accepts.
 * With `sweepable`, required fields are left to the caller (`takeRequired`).
 */
export const sectionDef = (plugin: Plugin, sweepable: boolean): SectionDef => {
  const name = sectionDefName(plugin)
  const config = configJsonSchema(plugin.config)
  const rename = (ref: string) => ref.replace(/^#\/\$defs\//, `${pointer(["$defs", name])}.`)
  const kind = { const: plugin.name, description: plugin.description }
  const head = { title: plugin.name, description: plugin.description, type: "object" }
  const s = renameRefs(config.schema, rename) as Json
  const whole: Json =
    s.type === "object" && isObject(s.properties)
      ? {
          ...s,
          ...head,
          properties: { kind, ...s.properties },
          required: ["kind", ...(Array.isArray(s.required) ? s.required : [])],
          additionalProperties: false
        }
      : { ...head, properties: { kind }, required: ["kind"] }
  const { schema, required } = sweepable ? takeRequired(whole) : { schema: whole, required: [] }
  const definitions = Object.fromEntries(Object.entries(config.definitions).map(([k, v]) => [`${name}.${k}`, renameRefs(v, rename) as Json]))
  return { name, schema, required, definitions }
}

/** A slot: any one of `plugins` (all of one kind), picked by `kind`; refuses everything when none is registered. */
export const slotUnion = (kind: PluginKind, plugins: ReadonlyArray<Plugin>): Json | boolean => {
  if (plugins.length === 0) return false
  return {
    type: "object",
    description: `a ${kind} plugin's section: kind names the plugin, the other fields are its config`,
    properties: { kind: { enum: plugins.map((p) => p.name), description: `the ${kind} plugin` } },
    required: ["kind"],
    oneOf: plugins.map((p) => ({ $ref: pointer(["$defs", sectionDefName(p)]) }))
  }
}
