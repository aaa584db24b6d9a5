/**
 * One config Schema (a plugin's section, or core's part of the spec) as the
 * JSON Schema of what a spec writer may put in YAML: field types,
 * constraints, descriptions and defaults from the Effect Schema itself, so
 * `memorize plugins`, `memorize schema` and `validate` read one source.
 *
 * Effect derives JSON Schema for its JSON codec, which differs from YAML
 * decoding in two places that would make an editor accept what `validate`
 * refuses: an optional field's "undefined" becomes `null` (YAML `key: ~` is
 * refused by `validate`), and a plain Number also takes the strings "NaN" and
 * "Infinity". Both are corrected on Effect's intermediate representation
 * before it is compiled, so nothing else of the derivation is re-done here.
 */
import { Exit, type JsonSchema, Schema, SchemaRepresentation } from "effect"
import { structFields } from "../spec/issues.ts"
import { isObject } from "./pointer.ts"

type Representation = SchemaRepresentation.Representation
type Check = SchemaRepresentation.Check

export interface ConfigJsonSchema {
  readonly schema: JsonSchema.JsonSchema
  /** Named sub-schemas (from `identifier` annotations) the schema refers to as `#/$defs/<name>`. */
  readonly definitions: JsonSchema.Definitions
}

const finiteIds = new Set(["effect/schema/isFinite", "effect/schema/isInt"])
const hasFiniteCheck = (checks: ReadonlyArray<Check>): boolean =>
  checks.some((c) => (c._tag === "FilterGroup" ? hasFiniteCheck(c.checks) : finiteIds.has(c.representation?.id ?? "")))

/** The check Effect's own `Schema.Finite` carries, taken from it rather than spelled out. */
const finiteCheck = (): Check => {
  const finite = SchemaRepresentation.toRepresentation(Schema.Finite.ast).representation
  return (finite as SchemaRepresentation.Number).checks[0]!
}

/** A union without its `undefined` member (YAML has no undefined); a single member left takes the union's annotations. */
const withoutUndefined = (u: SchemaRepresentation.Union): Representation => {
  const types = u.types.filter((t) => t._tag !== "Undefined")
  if (types.length === u.types.length || types.length === 0) return u
  const only = types[0]!
  if (types.length > 1 || only._tag === "Reference") return { ...u, types }
  return {
    ...only,
    annotations: { ...only.annotations, ...u.annotations },
    checks: [...only.checks, ...u.checks]
  } as Representation
}

/** Bottom-up rewrite of every node of a representation. */
const rewrite = (node: Representation, f: (r: Representation) => Representation): Representation => {
  const go = (r: Representation) => rewrite(r, f)
  switch (node._tag) {
    case "Declaration":
      return f({ ...node, typeParameters: node.typeParameters.map(go) })
    case "Suspend":
      return f({ ...node, thunk: go(node.thunk) })
    case "Arrays":
      return f({ ...node, elements: node.elements.map((e) => ({ ...e, type: go(e.type) })), rest: node.rest.map(go) })
    case "Objects":
      return f({
        ...node,
        propertySignatures: node.propertySignatures.map((p) => ({ ...p, type: go(p.type) })),
        indexSignatures: node.indexSignatures.map((s) => ({ parameter: go(s.parameter), type: go(s.type) }))
      })
    case "Union":
      return f({ ...node, types: node.types.map(go) })
    default:
      return f(node)
  }
}

/** The YAML reading of a node: optional fields without `null`, numbers without their JSON string spellings. */
const forYaml = (r: Representation): Representation => {
  if (r._tag === "Union") return withoutUndefined(r)
  if (r._tag === "Number" && !hasFiniteCheck(r.checks)) return { ...r, checks: [finiteCheck(), ...r.checks] }
  return r
}

/**
 * The default a field of a struct takes when the spec leaves it out, as
 * the spec would write it (encoded), or undefined when it has none.
 */
const fieldDefault = (name: string, field: Schema.Top): unknown => {
  // A one-field struct decodes `{}` exactly as the full struct decodes a missing key.
  const one = Schema.Struct({ [name]: field }) as Schema.Top as Schema.Codec<Record<string, unknown>, unknown>
  const decoded = Schema.decodeUnknownExit(one)({})
  if (Exit.isFailure(decoded) || decoded.value[name] === undefined) return undefined
  const encoded = Schema.encodeUnknownExit(one)(decoded.value)
  return Exit.isSuccess(encoded) ? (encoded.value as Record<string, unknown>)[name] : decoded.value[name]
}

/** Adds `default` to each property of `json` whose field (in `schema`, a struct) decodes a missing key to a value; nested structs too. */
const withDefaults = (schema: Schema.Top, json: JsonSchema.JsonSchema): JsonSchema.JsonSchema => {
  const fields = structFields(schema) as Record<string, Schema.Top> | undefined
  if (!fields || !isObject(json.properties)) return json
  const properties: Record<string, unknown> = {}
  for (const [name, property] of Object.entries(json.properties)) {
    const field = fields[name]
    if (!field || !isObject(property)) {
      properties[name] = property
      continue
    }
    const nested = withDefaults(field, property)
    const dflt = "default" in nested ? undefined : fieldDefault(name, field)
    properties[name] = dflt === undefined ? nested : { ...nested, default: dflt }
  }
  return { ...json, properties }
}

/** A struct's keys are all the spec may hold (decode.ts refuses others), even when Effect's schema of an empty struct says "any object". */
const closed = (schema: Schema.Top, json: JsonSchema.JsonSchema): JsonSchema.JsonSchema => {
  if (!structFields(schema) || isObject(json.properties)) return json
  const { not: _not, type: _type, ...annotations } = json
  return { ...annotations, type: "object", properties: {}, additionalProperties: false }
}

/**
 * A non-empty list comes out of Effect as a one-element tuple plus the rest
 * (`prefixItems: [X], items: X, minItems: 1`); `items: X, minItems: 1` says
 * the same, reads better in an editor and is what ajv's strict mode accepts.
 */
const plainLists = (json: unknown): unknown => {
  if (Array.isArray(json)) return json.map(plainLists)
  if (!isObject(json)) return json
  const out = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, plainLists(v)]))
  const prefix = out.prefixItems
  const rest = JSON.stringify(out.items ?? {})
  if (Array.isArray(prefix) && typeof out.minItems === "number" && out.minItems >= prefix.length && prefix.every((p) => JSON.stringify(p) === rest)) {
    delete out.prefixItems
  }
  return out
}

/** The JSON Schema (draft 2020-12) of the YAML that `schema` decodes, with unknown keys refused. */
export const configJsonSchema = (schema: Schema.Top): ConfigJsonSchema => {
  const document = SchemaRepresentation.toRepresentation(schema.ast)
  const references: Record<string, Representation> = {}
  for (const [name, r] of Object.entries(document.references)) references[name] = rewrite(r, forYaml)
  const compiled = SchemaRepresentation.toJsonSchemaDocument(
    { representation: rewrite(document.representation, forYaml), references },
    { onExcessProperty: "error" }
  )
  return {
    schema: withDefaults(schema, plainLists(closed(schema, compiled.schema)) as JsonSchema.JsonSchema),
    definitions: plainLists(compiled.definitions) as JsonSchema.Definitions
  }
}
