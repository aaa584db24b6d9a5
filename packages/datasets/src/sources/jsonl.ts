/**
 * JSON Lines, streamed line by line (readline over a file stream): each line
 * an object whose `field` (a dotted path, "meta.text") holds one document's
 * text. Blank lines are skipped; anything else that is not such an object is
 * an error naming the file and line.
 */
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { SourceFailure } from "../errors.ts"
import type { DocumentPiece } from "./document.ts"

const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v)

/** Reads the lines of a file lazily, with 1-based line numbers; closes the file when the consumer stops. */
export async function* readLines(file: string): AsyncGenerator<{ readonly line: string; readonly number: number }> {
  const stream = createReadStream(file, { encoding: "utf8" })
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  let number = 0
  try {
    for await (const line of lines) {
      number++
      yield { line, number }
    }
  } catch (e) {
    throw new SourceFailure(file, `cannot read ${file}: ${(e as Error).message}`)
  } finally {
    lines.close()
    stream.destroy()
  }
}

/** Parses one JSONL line or fails naming file and line. */
export const parseJsonLine = (file: string, number: number, line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch (e) {
    throw new SourceFailure(file, `${file}:${number}: not valid JSON (${(e as Error).message}): ${line.slice(0, 80)}`)
  }
}

export async function* jsonlDocuments(files: ReadonlyArray<string>, field: string): AsyncGenerator<DocumentPiece> {
  const path = field.split(".")
  for (const file of files) {
    for await (const { line, number } of readLines(file)) {
      if (line.trim() === "") continue
      const row = parseJsonLine(file, number, line)
      let value: unknown = row
      for (const key of path) {
        if (typeof value !== "object" || value === null || Array.isArray(value) || !(key in value)) {
          const keys = typeof row === "object" && row !== null && !Array.isArray(row) ? Object.keys(row) : []
          throw new SourceFailure(
            file,
            `${file}:${number}: no field "${field}" (line is ${describe(row)}${keys.length > 0 ? ` with keys ${keys.map((k) => `"${k}"`).join(", ")}` : ""})`
          )
        }
        value = (value as Record<string, unknown>)[key]
      }
      if (typeof value !== "string") throw new SourceFailure(file, `${file}:${number}: field "${field}" is ${describe(value)}, expected a string`)
      yield { text: value, source: `${file}:${number}`, last: true }
    }
  }
}
