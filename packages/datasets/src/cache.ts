/**
 * Cache of tokenized corpora under the run context's `cacheDir`: the distinct
 * sequences a `text` request collected (before the seeded split), keyed by
 * everything that determines them: source, files with their sizes and
 * modification times, field/column/categories, tokenizer, seqLen, how many
 * sequences were wanted, and for `shuffle` the seed. Sweeps that vary the
 * model or the split seed over one dataset then tokenize the corpus once.
 *
 * File layout: "MEMDS1\n", a uint32 (LE) header length, a JSON header
 * { count, seqLen, stats }, then count × seqLen uint32 (LE) tokens. Written to
 * a temporary name and renamed, so readers never see half a file. A file that
 * does not parse is ignored (and rewritten), never trusted.
 */
import { createHash } from "node:crypto"
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises"
import { endianness } from "node:os"
import { join } from "node:path"
import type { Collected, CollectStats } from "./collect.ts"

const MAGIC = "MEMDS1\n"

/** The cache key of a request: a hash of its description and its files' identities. */
export const cacheKey = async (description: Record<string, unknown>, files: ReadonlyArray<string>): Promise<string> => {
  const identities = await Promise.all(
    files.map(async (f) => {
      const s = await stat(f)
      return [f, s.size, s.mtimeMs]
    })
  )
  return createHash("sha256").update(JSON.stringify({ description, identities })).digest("hex").slice(0, 32)
}

const pathOf = (dir: string, key: string) => join(dir, "datasets", `text-${key}.bin`)

const toLE = (tokens: Uint32Array): Uint8Array => {
  if (endianness() === "LE") return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength)
  const out = new Uint8Array(tokens.length * 4)
  const view = new DataView(out.buffer)
  tokens.forEach((t, i) => view.setUint32(i * 4, t, true))
  return out
}

/** The cached result, or undefined when absent or unreadable. */
export const readCached = async (dir: string, key: string, seqLen: number): Promise<Collected | undefined> => {
  let bytes: Buffer
  try {
    bytes = await readFile(pathOf(dir, key))
  } catch {
    return undefined
  }
  try {
    if (bytes.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) return undefined
    const headerLength = bytes.readUInt32LE(MAGIC.length)
    const start = MAGIC.length + 4
    const header = JSON.parse(bytes.subarray(start, start + headerLength).toString("utf8")) as { count: number; seqLen: number; stats: CollectStats }
    const dataStart = start + headerLength
    if (header.seqLen !== seqLen || bytes.length - dataStart !== header.count * seqLen * 4) return undefined
    const tokens = new Uint32Array(header.count * seqLen)
    for (let i = 0; i < tokens.length; i++) tokens[i] = bytes.readUInt32LE(dataStart + 4 * i)
    return { tokens, count: header.count, stats: header.stats }
  } catch {
    return undefined
  }
}

export const writeCached = async (dir: string, key: string, seqLen: number, collected: Collected): Promise<void> => {
  const file = pathOf(dir, key)
  await mkdir(join(dir, "datasets"), { recursive: true })
  const header = Buffer.from(JSON.stringify({ count: collected.count, seqLen, stats: collected.stats }), "utf8")
  const length = Buffer.alloc(4)
  length.writeUInt32LE(header.length)
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  await writeFile(tmp, Buffer.concat([Buffer.from(MAGIC, "latin1"), length, header, toLE(collected.tokens)]))
  await rename(tmp, file)
}
