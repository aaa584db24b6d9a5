/**
 * Sweeps in JSON Schema, as far as it goes. A sweep axis is a dotted path
 * (`model.dModel`) with a list of values, set into the spec before each run
 * is decoded (spec/sweep.ts), so:
 * - the axes an editor offers are every path of the spec's objects, each
 *   with the values any plugin of that slot takes there (the plugin is
 *   chosen by `kind`, which JSON Schema cannot follow into a dotted key);
 * - a required field of a section may be left to a sweep: the section's
 *   schema does not require it, a rule at the root requires it unless the
 *   sweep sets it (or the section, or its kind).
 */
import { anyOfRefs, isObject, type Json, nestAt, pointer, resolvePointer } from "./pointer.ts"

/** Paths an axis may name, each with pointers to the schemas of its values; and paths below which any key goes. */
export interface SweepTargets {
  readonly paths: ReadonlyMap<string, ReadonlyArray<string>>
  readonly open: ReadonlyArray<string>
}

const branchesOf = (node: Json): ReadonlyArray<[string, Json]> =>
  (["oneOf", "anyOf", "allOf"] as const).flatMap((k) =>
    Array.isArray(node[k]) ? (node[k] as Array<unknown>).flatMap((b, i): Array<[string, Json]> => (isObject(b) ? [[`${k}/${i}`, b]] : [])) : []
  )

/** Whether a node takes objects with keys it does not name (a record, or anything at all), so deeper paths are the value's business. */
const isOpen = (node: Json): boolean => {
  if (branchesOf(node).length > 0 || "const" in node || "enum" in node || node.additionalProperties === false) return false
  const type = node.type
  return type === undefined || type === "object" || (Array.isArray(type) && type.includes("object"))
}

/**
 * Walks `root` from its top-level properties, following `$ref`s, into
 * objects only (a sweep cannot index a list). `leaves` are pointers not
 * entered (the sweep axes themselves).
 */
export const sweepTargets = (root: Json, leaves: ReadonlySet<string>): SweepTargets => {
  const paths = new Map<string, Array<string>>()
  const open = new Set<string>()
  const walk = (at: string, node: Json, path: ReadonlyArray<string>, seen: ReadonlySet<string>): void => {
    if (leaves.has(at) || seen.has(at)) return
    const inside = new Set([...seen, at])
    if (typeof node.$ref === "string") {
      const target = resolvePointer(root, node.$ref)
      if (target) walk(node.$ref, target, path, inside)
    }
    for (const [where, branch] of branchesOf(node)) walk(`${at}/${where}`, branch, path, inside)
    if (path.length > 0 && isOpen(node) && node.$ref === undefined) open.add(path.join("."))
    if (!isObject(node.properties)) return
    for (const [key, value] of Object.entries(node.properties)) {
      if (key.includes(".") || !isObject(value)) continue
      const childAt = `${at}/properties/${pointer([key]).slice(2)}`
      const childPath = [...path, key]
      const list = paths.get(childPath.join(".")) ?? []
      if (!list.includes(childAt)) list.push(childAt)
      paths.set(childPath.join("."), list)
      walk(childAt, value, childPath, inside)
    }
  }
  walk("#", root, [], new Set())
  // An open path's deeper keys are open too; list only the outermost.
  const outer = [...open].filter((p) => ![...open].some((q) => p !== q && p.startsWith(`${q}.`)))
  return { paths, open: outer.sort() }
}

const escapeRegExp = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&")

/** The schema of `sweep.grid` / `sweep.zip`: every known path with its values' schema; anything else is refused, as `validate` refuses it. */
export const sweepAxes = (root: Json, targets: SweepTargets): Json => {
  const properties: Record<string, Json> = {}
  for (const [key, refs] of [...targets.paths.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const description = refs.map((r) => resolvePointer(root, r)?.description).find((d) => typeof d === "string")
    properties[key] = { type: "array", minItems: 1, items: anyOfRefs(root, refs), ...(description ? { description: `values of ${key}: ${description}` } : {}) }
  }
  const patternProperties = Object.fromEntries(targets.open.map((p) => [`^${escapeRegExp(p)}\\.`, { type: "array", minItems: 1 }]))
  return {
    type: "object",
    description: "axis (a dotted path into the spec, like model.dModel) → the values it takes",
    properties,
    ...(targets.open.length ? { patternProperties } : {}),
    additionalProperties: false
  }
}

/** Holds when `sweep.grid` or `sweep.zip` has one of `keys`. */
const sweepSetsAny = (keys: ReadonlyArray<string>): Json => ({
  type: "object",
  required: ["sweep"],
  properties: {
    sweep: {
      type: "object",
      anyOf: ["grid", "zip"].map((axis) => ({
        type: "object",
        required: [axis],
        properties: { [axis]: { type: "object", anyOf: keys.map((k) => ({ type: "object", required: [k] })) } }
      }))
    }
  }
})

/**
 * The rule that puts back the required fields a section's schema left out:
 * when the section at `section` names plugin `name`, each field at
 * `required` (a path inside the section) is there, or a sweep axis sets it,
 * one of the objects holding it, or the section's kind.
 */
export const requiredUnlessSwept = (section: ReadonlyArray<string>, name: string, required: ReadonlyArray<ReadonlyArray<string>>): Json => ({
  if: nestAt(section, { type: "object", required: ["kind"], properties: { kind: { const: name } } }),
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
  then: {
    allOf: required.map((field) => {
      const full = [...section, ...field]
      const keys = [...full.map((_, i) => full.slice(0, i + 1).join(".")), [...section, "kind"].join(".")]
      return { anyOf: [nestAt(full.slice(0, -1), { type: "object", required: [full[full.length - 1]!] }), sweepSetsAny(keys)] }
    })
  }
})
