/**
 * Expands the `path:` of a spec (a path or glob, or a list of them) into
 * files, relative paths resolved against the spec's folder. Globs are Node's
 * own (`fs/promises` glob: `*` and `?` within a path segment, `**` across
 * segments, `{a,b}` alternatives, `[abc]` classes). Files of one pattern come
 * sorted, so the reading order (and a dataset built without `shuffle`) is
 * reproducible.
 */
import { glob, stat } from "node:fs/promises"
import { isAbsolute, join, relative, resolve, sep } from "node:path"
import { SourceFailure } from "../errors.ts"

const isGlob = (s: string): boolean => /[*?[{]/.test(s)

/** Files under `root` matching `pattern` (Node's own glob), in the order a sorted walk of the folders meets them. */
const matching = async (root: string, pattern: string): Promise<Array<string>> => {
  const found: Array<string> = []
  try {
    for await (const entry of glob(pattern, { cwd: root, withFileTypes: true })) {
      if (entry.isFile()) found.push(join(entry.parentPath, entry.name))
    }
  } catch {
    // An unreadable root matches nothing (reported below as such).
    return []
  }
  // Segment by segment, each folder's names in order: a walk's order (so datasets read their files as before).
  const segments = new Map(found.map((f) => [f, relative(root, f).split(sep)]))
  const bySegments = (a: string, b: string): number => {
    const x = segments.get(a)!
    const y = segments.get(b)!
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1
    return x.length - y.length
  }
  return found.sort(bySegments)
}

/** Files named by `patterns` (each a path or a glob), in order, without repeats. */
export const expandPaths = async (patterns: ReadonlyArray<string>, baseDir: string): Promise<Array<string>> => {
  const files: Array<string> = []
  const seen = new Set<string>()
  const add = (f: string) => {
    if (!seen.has(f)) {
      seen.add(f)
      files.push(f)
    }
  }
  for (const pattern of patterns) {
    const absolute = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern)
    if (!isGlob(pattern)) {
      const info = await stat(absolute).catch(() => undefined)
      if (!info) throw new SourceFailure(absolute, `file not found: ${absolute}${absolute !== pattern ? ` (from "${pattern}", relative to ${baseDir})` : ""}`)
      if (!info.isFile()) throw new SourceFailure(absolute, `not a file: ${absolute}`)
      add(absolute)
      continue
    }
    // Walk from the longest leading part without glob characters.
    const parts = absolute.split(sep)
    const firstGlob = parts.findIndex(isGlob)
    const root = parts.slice(0, firstGlob).join(sep) || sep
    const rest = parts.slice(firstGlob).join("/")
    let matched = 0
    for (const file of await matching(root, rest)) {
      add(file)
      matched++
    }
    if (matched === 0) throw new SourceFailure(absolute, `no file matches "${pattern}" (searched ${root})`)
  }
  return files
}
