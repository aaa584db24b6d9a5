/**
 * Cache of tokenized corpora under the run context's `cacheDir`: the distinct
 * sequences a `text` request collected (before the seeded split), keyed by
 * everything that determines them: source, files with their sizes and
 * modification times, field/column/categories, tokenizer, seqLen, how many
 * sequences were wanted, and for `shuffle` the seed. Sweeps that vary the
 * model or the split seed over one dataset then tokenize the corpus once.
 *
 * File layout: "MEMDS2\n", a uint32 (LE) header length, a JSON header
 * { count, seqLen, stats, sha256 }, then count × seqLen uint32 (LE) tokens.
 * `sha256` is the hash of the token bytes, checked on every load: bytes
 * changed in a cached file (a disk error, a hand edit) make it a miss that is
 * rebuilt, never data used silently. Written to a temporary name and renamed,
 * so readers never see half a file. A file that does not parse or decode is
 * ignored (and rewritten), never trusted.
 */
import { Schema } from "effect"
import { createHash } from "node:crypto"
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { endianness } from "node:os"
import { join } from "node:path"
import type { Collected, CollectStats } from "./collect.ts"

const MAGIC = "MEMDS2\n"

/** The header, decoded: a file whose header is not this is not a cache entry. */
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** collect.ts's CollectStats as stored: a header whose stats differ is a miss, not a cast. */
const StoredStats = Schema.Struct({
  documents: Count,
  tokens: Count,
  sequences: Count,
  duplicatesDropped: Count,
  tailTokensDropped: Count,
  uniqueSequences: Count,
  exhausted: Schema.Boolean
})

const CacheHeader = Schema.Struct({
  count: Count,
  seqLen: Schema.Int.check(Schema.isGreaterThan(0)),
  sha256: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  stats: StoredStats
})

/** Why a cache file was not used (absent files are not reported). */
export type CacheMiss = { readonly file: string; readonly reason: string }

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

/**
 * The cached result, or undefined when absent or not trustworthy; `onMiss`
 * hears why a present file was not used (so the caller can warn).
 */
export const readCached = async (dir: string, key: string, seqLen: number, onMiss: (miss: CacheMiss) => void = () => {}): Promise<Collected | undefined> => {
  const file = pathOf(dir, key)
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch {
    return undefined
  }
  const miss = (reason: string) => {
    onMiss({ file, reason })
    return undefined
  }
  try {
    if (bytes.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) return miss("not a cache file of this version")
    const headerLength = bytes.readUInt32LE(MAGIC.length)
    const start = MAGIC.length + 4
    const decoded = Schema.decodeUnknownExit(CacheHeader)(JSON.parse(bytes.subarray(start, start + headerLength).toString("utf8")))
    if (decoded._tag === "Failure") return miss("invalid header")
    const header = decoded.value
    const dataStart = start + headerLength
    if (header.seqLen !== seqLen || bytes.length - dataStart !== header.count * seqLen * 4) return miss("size does not match its header")
    const data = bytes.subarray(dataStart)
    const sha256 = createHash("sha256").update(data).digest("hex")
    if (sha256 !== header.sha256)
      return miss(`content hash mismatch (stored ${header.sha256.slice(0, 12)}…, found ${sha256.slice(0, 12)}…): the file was changed`)
    const tokens = new Uint32Array(header.count * seqLen)
    for (let i = 0; i < tokens.length; i++) tokens[i] = data.readUInt32LE(4 * i)
    const stats: CollectStats = header.stats
    return { tokens, count: header.count, stats }
  } catch (e) {
    return miss(`unreadable: ${(e as Error)?.message ?? String(e)}`)
  }
}

export const writeCached = async (dir: string, key: string, seqLen: number, collected: Collected): Promise<void> => {
  const file = pathOf(dir, key)
  await mkdir(join(dir, "datasets"), { recursive: true })
  const data = toLE(collected.tokens)
  const sha256 = createHash("sha256").update(data).digest("hex")
  const header = Buffer.from(JSON.stringify({ count: collected.count, seqLen, sha256, stats: collected.stats }), "utf8")
  const length = Buffer.alloc(4)
  length.writeUInt32LE(header.length)
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  try {
    await writeFile(tmp, Buffer.concat([Buffer.from(MAGIC, "latin1"), length, header, data]))
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
