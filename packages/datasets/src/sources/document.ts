/**
 * What every text source yields: documents as text, possibly in several
 * pieces (a large plain-text file). Sequences never cross a document; `last`
 * marks the final piece of a document.
 */
export interface DocumentPiece {
  readonly text: string
  /** Where it came from ("path", "path:line", "path#row"), for messages. */
  readonly source: string
  readonly last: boolean
}
