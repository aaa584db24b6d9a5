/**
 * Plain text files, one document per file. A file up to `wholeFileBytes` is
 * read whole. A larger one is streamed in pieces of about `pieceBytes` that
 * end at a line break, and each piece is tokenized on its own; sequences still
 * run across pieces (one document), but BPE merges cannot span a piece
 * boundary, so tokens right at a boundary (the newline) may differ from
 * tokenizing the whole file at once. That is the price of never holding a
 * multi-gigabyte file in memory.
 */
import { createReadStream } from "node:fs"
import { readFile, stat } from "node:fs/promises"
import { StringDecoder } from "node:string_decoder"
import { SourceFailure } from "../errors.ts"
import type { DocumentPiece } from "./document.ts"

export interface PlainTextOptions {
  readonly wholeFileBytes?: number
  readonly pieceBytes?: number
}

export async function* plainTextDocuments(files: ReadonlyArray<string>, options: PlainTextOptions = {}): AsyncGenerator<DocumentPiece> {
  const wholeFileBytes = options.wholeFileBytes ?? 64 * 1024 * 1024
  const pieceBytes = options.pieceBytes ?? 1024 * 1024
  for (const file of files) {
    const info = await stat(file).catch((e: Error) => {
      throw new SourceFailure(file, `cannot read ${file}: ${e.message}`)
    })
    if (info.size <= wholeFileBytes) {
      const text = await readFile(file, "utf8").catch((e: Error) => {
        throw new SourceFailure(file, `cannot read ${file}: ${e.message}`)
      })
      yield { text, source: file, last: true }
      continue
    }
    const decoder = new StringDecoder("utf8")
    let pending = ""
    const stream = createReadStream(file, { highWaterMark: pieceBytes })
    try {
      for await (const chunk of stream) {
        pending += decoder.write(chunk as Buffer)
        if (pending.length < pieceBytes / 2) continue
        let cut = pending.lastIndexOf("\n") + 1
        // A file without line breaks: cut after a space, or anywhere (never
        // inside a surrogate pair) once the piece grows too large.
        if (cut === 0 && pending.length > 4 * pieceBytes) {
          cut = pending.lastIndexOf(" ") + 1 || pending.length
          const code = pending.charCodeAt(cut - 1)
          if (code >= 0xd800 && code <= 0xdbff) cut--
        }
        if (cut > 0) {
          yield { text: pending.slice(0, cut), source: file, last: false }
          pending = pending.slice(cut)
        }
      }
    } catch (e) {
      throw new SourceFailure(file, `cannot read ${file}: ${(e as Error).message}`)
    } finally {
      stream.destroy()
    }
    pending += decoder.end()
    yield { text: pending, source: file, last: true }
  }
}
