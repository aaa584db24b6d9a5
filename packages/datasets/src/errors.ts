/**
 * Dataset failures. Everything a person can get wrong (missing file, bad
 * column, too few samples...) ends as core's `DatasetError`, naming the
 * dataset plugin, the file and what was found.
 *
 * Plain async code (file readers, parsers) throws `SourceFailure`; the Effect
 * boundary (`toDatasetError`) turns it into a `DatasetError`, so no reader
 * needs to know about Effect.
 */
import { DatasetError } from "@memorize/core"

export { DatasetError }

/** Thrown by the async readers; carries the file (and line/row) it is about. */
export class SourceFailure extends Error {
  readonly file: string | undefined

  constructor(file: string | undefined, message: string) {
    super(message)
    this.file = file
    this.name = "SourceFailure"
  }
}

/** Maps anything thrown while building a dataset into a `DatasetError`. */
export const toDatasetError =
  (dataset: string) =>
  (cause: unknown): DatasetError => {
    if (cause instanceof DatasetError) return cause
    if (cause instanceof SourceFailure) {
      return new DatasetError({ dataset, message: cause.message, ...(cause.file !== undefined ? { file: cause.file } : {}) })
    }
    const message = cause instanceof Error ? cause.message : String(cause)
    return new DatasetError({ dataset, message: `unexpected failure: ${message}` })
  }

/** A `DatasetError` without a file (config problems, too few samples). */
export const datasetError = (dataset: string, message: string, file?: string): DatasetError =>
  new DatasetError({ dataset, message, ...(file !== undefined ? { file } : {}) })
