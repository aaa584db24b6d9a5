/**
 * Expands the `path:` of a spec (a path or glob, or a list of them) into
 * files, relative paths resolved against the spec's folder. Supported glob
 * syntax: `*` and `?` within a path segment, `**` across segments, `{a,b}`
 * alternatives, `[abc]` classes. Files of one pattern come sorted, so the
 * reading order (and a dataset built without `shuffle`) is reproducible.
 */
import type { Dirent } from "node:fs"
import { readdir, stat } from "node:fs/promises"
import { isAbsolute, join, relative, resolve, sep } from "node:path"
import { SourceFailure } from "../errors.ts"

const isGlob = (s: string): boolean => /[*?[{]/.test(s)

const escapeRegex = (c: string): string => c.replace(/[.+^$()|\\\]]/g, "\\$&")

/** Translates a glob (with `/` separators) into an anchored regular expression. */
export const globToRegExp = (glob: string): RegExp => {
  let re = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**/` matches zero or more whole segments; a final `**` anything.
        if (glob[i + 2] === "/") {
          re += "(?:[^/]*/)*"
          i += 2
        } else {
          re += ".*"
          i += 1
        }
      } else re += "[^/]*"
    } else if (c === "?") re += "[^/]"
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1)
      if (end < 0) re += "\\["
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")
        re += `[${body}]`
        i = end
      }
    } else if (c === "{") {
      const end = glob.indexOf("}", i + 1)
      if (end < 0) re += "\\{"
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(",")
          .map((alt) => globToRegExp(alt).source.slice(1, -1))
          .join("|")})`
        i = end
      }
    } else re += escapeRegex(c)
  }
  return new RegExp(`^${re}$`)
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: Array<Dirent>
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* walk(p)
    else if (e.isFile()) yield p
  }
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
    const re = globToRegExp(rest)
    let matched = 0
    for await (const file of walk(root)) {
      if (re.test(relative(root, file).split(sep).join("/"))) {
        add(file)
        matched++
      }
    }
    if (matched === 0) throw new SourceFailure(absolute, `no file matches "${pattern}" (searched ${root})`)
  }
  return files
}
