/**
 * Cuts each document's tokens into sequences of exactly `seqLen` tokens. A
 * sequence never crosses a document boundary; the last `< seqLen` tokens of a
 * document (its tail) are dropped and counted. A document may arrive in pieces
 * (a large plain-text file): `push` carries partial sequences across pieces.
 */
export class Chunker {
  readonly seqLen: number
  private readonly emit: (sequence: Uint32Array) => void
  private readonly carry: Uint32Array
  private carried = 0
  /** Tokens dropped as document tails so far. */
  tailTokens = 0
  /** Complete sequences emitted so far. */
  sequences = 0

  constructor(seqLen: number, emit: (sequence: Uint32Array) => void) {
    this.seqLen = seqLen
    this.emit = emit
    this.carry = new Uint32Array(seqLen)
  }

  /** Adds the next tokens of the current document. */
  push(tokens: ArrayLike<number>): void {
    const S = this.seqLen
    for (let i = 0; i < tokens.length; i++) {
      this.carry[this.carried++] = tokens[i]
      if (this.carried === S) {
        this.emit(this.carry.slice())
        this.sequences++
        this.carried = 0
      }
    }
  }

  /** Ends the current document: its unfinished sequence is dropped. */
  endDocument(): void {
    this.tailTokens += this.carried
    this.carried = 0
  }
}

export interface Chunked {
  /** count × seqLen tokens, row-major. */
  readonly tokens: Uint32Array
  readonly count: number
  /** For each sequence, the index of the document it came from. */
  readonly documentOf: Uint32Array
  readonly tailTokens: number
}

/** Chunks whole documents at once (tests, small corpora). */
export const chunkDocuments = (documents: ReadonlyArray<ArrayLike<number>>, seqLen: number): Chunked => {
  if (!Number.isInteger(seqLen) || seqLen <= 0) throw new RangeError(`seqLen must be a positive integer, got ${seqLen}`)
  const out: Array<Uint32Array> = []
  const docOf: Array<number> = []
  let current = 0
  const chunker = new Chunker(seqLen, (s) => {
    out.push(s)
    docOf.push(current)
  })
  documents.forEach((doc, d) => {
    current = d
    chunker.push(doc)
    chunker.endDocument()
  })
  const tokens = new Uint32Array(out.length * seqLen)
  out.forEach((s, i) => tokens.set(s, i * seqLen))
  return { tokens, count: out.length, documentOf: Uint32Array.from(docOf), tailTokens: chunker.tailTokens }
}
