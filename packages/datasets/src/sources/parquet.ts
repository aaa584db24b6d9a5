/**
 * Parquet files (FineWeb's format), read with hyparquet one row group at a
 * time, only the text column: a 10 GB file never sits in memory whole, and
 * reading stops (no further row group fetched) as soon as the consumer has
 * enough sequences. Each row is one document; null values are skipped.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from "hyparquet"
import { SourceFailure } from "../errors.ts"
import type { DocumentPiece } from "./document.ts"

const open = async (file: string): Promise<{ buffer: AsyncBuffer; metadata: FileMetaData }> => {
  let buffer: AsyncBuffer
  try {
    buffer = await asyncBufferFromFile(file)
  } catch (e) {
    throw new SourceFailure(file, `cannot read ${file}: ${(e as Error).message}`)
  }
  try {
    return { buffer, metadata: await parquetMetadataAsync(buffer) }
  } catch (e) {
    throw new SourceFailure(file, `${file} is not a readable Parquet file: ${(e as Error).message}`)
  }
}

/** Top-level column names of a Parquet schema. */
export const topLevelColumns = (metadata: FileMetaData): Array<string> => {
  const names: Array<string> = []
  const root = metadata.schema[0]
  let i = 1
  // Walk the flattened schema tree, keeping only the root's direct children.
  const skip = (index: number): number => {
    const children = metadata.schema[index].num_children ?? 0
    let next = index + 1
    for (let c = 0; c < children; c++) next = skip(next)
    return next
  }
  for (let c = 0; c < (root.num_children ?? 0); c++) {
    names.push(metadata.schema[i].name)
    i = skip(i)
  }
  return names
}

export async function* parquetDocuments(files: ReadonlyArray<string>, column: string): AsyncGenerator<DocumentPiece> {
  for (const file of files) {
    const { buffer, metadata } = await open(file)
    const columns = topLevelColumns(metadata)
    if (!columns.includes(column)) {
      throw new SourceFailure(file, `${file} has no column "${column}" (columns: ${columns.map((c) => `"${c}"`).join(", ") || "none"})`)
    }
    let rowStart = 0
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows)
      let rows: Awaited<ReturnType<typeof parquetReadObjects>>
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, columns: [column], rowStart, rowEnd })
      } catch (e) {
        throw new SourceFailure(file, `${file}: cannot decode rows ${rowStart}..${rowEnd} of column "${column}": ${(e as Error).message}`)
      }
      for (let r = 0; r < rows.length; r++) {
        const value: unknown = rows[r][column]
        if (value === null || value === undefined) continue
        if (typeof value !== "string") {
          throw new SourceFailure(
            file,
            `${file}: row ${rowStart + r}, column "${column}" holds ${typeof value === "object" ? "an object" : typeof value}, expected text`
          )
        }
        yield { text: value, source: `${file}#${rowStart + r}`, last: true }
      }
      rowStart = rowEnd
    }
  }
}
