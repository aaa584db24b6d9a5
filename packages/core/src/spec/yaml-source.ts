/**
 * A YAML spec parsed with its source positions kept, so every later error
 * (schema, plugin config, sweep value) can name its line and column.
 */
import { Effect } from "effect"
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml"
import { SpecError, type SpecIssue } from "../errors.ts"

export type SpecPath = ReadonlyArray<string | number>

export interface SpecSource {
  /** File name as the user gave it (used in messages). */
  readonly file: string
  readonly text: string
  readonly doc: Document
  readonly lines: LineCounter
  /** The plain JS value of the document. */
  readonly value: unknown
}

export const parseYamlSpec = (file: string, text: string): Effect.Effect<SpecSource, SpecError> =>
  Effect.suspend(() => {
    const lines = new LineCounter()
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
    if (doc.errors.length > 0) {
      const issues: Array<SpecIssue> = doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0])
        return { path: "", message: `YAML syntax: ${e.message.split("\n")[0]}`, line: pos.line, column: pos.col }
      })
      return Effect.fail(new SpecError({ file, issues }))
    }
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (e) {
      // An alias bomb (aliases expanding to gigabytes) or an alias to nothing: the user's file, exit 2.
      return Effect.fail(new SpecError({ file, issues: [{ path: "", message: `YAML: ${String((e as Error)?.message ?? e).split("\n")[0]}` }] }))
    }
    return Effect.succeed({ file, text, doc, lines, value })
  })

/** Dotted, human form of a path: `sweep.grid.model.dModel[2]`. */
export const formatPath = (path: SpecPath): string =>
  path.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc === "" ? k : `${acc}.${k}`), "")

/**
 * The source position of the deepest node that exists along `path`
 * (for a missing key, its parent mapping). `keyPosition` points at the key
 * of the last pair instead of its value (for "unknown key" errors).
 */
export const positionOf = (source: SpecSource, path: SpecPath, keyPosition = false): { line: number; column: number } | undefined => {
  let node: unknown = source.doc.contents
  let offset: number | undefined = rangeStart(node)
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key))
      if (!pair) break
      const keyStart = rangeStart(pair.key)
      node = pair.value
      offset = keyPosition && key === path[path.length - 1] ? keyStart : (rangeStart(pair.value) ?? keyStart)
    } else if (isSeq(node) && typeof key === "number" && node.items[key] !== undefined) {
      node = node.items[key]
      offset = rangeStart(node) ?? offset
    } else break
  }
  if (offset === undefined) return undefined
  const p = source.lines.linePos(offset)
  return { line: p.line, column: p.col }
}

const rangeStart = (node: unknown): number | undefined => {
  const range = (node as Node | null | undefined)?.range
  return range ? range[0] : undefined
}
