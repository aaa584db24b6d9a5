/**
 * The compressed-file container (`memorize compress`), little-endian:
 *
 *   offset size
 *     0    4   magic "MZAC"
 *     4    2   format version (1)
 *     6    1   frequency bits P (T = 2^P)
 *     7    1   flags: bit 0 = the model was evaluated with a BOS token
 *     8   16   precision the model was evaluated in (ASCII, zero padded)
 *    24   16   backend that evaluated it ("webgpu", "cpu", "test"...; ASCII)
 *    40    4   sequence count
 *    44    4   seqLen: the longest sequence
 *    48    4   data vocabulary V
 *    52    4   batch: sequences per model call (decoder must use the same)
 *    56    4   index length, bytes
 *    60    8   payload length, bits
 *    68   32   SHA-256 of the model weights (a different model is refused)
 *   100   32   SHA-256 of the original tokens (checks what the decoder produced)
 *   132   32   SHA-256 of bytes 0…131 and of everything after byte 163
 *   164        index: per sequence, LEB128 token count then LEB128 code length in bits
 *              payload: the code words, bit-concatenated, MSB first
 *
 * A corrupted byte anywhere fails the checksum; a truncated file fails the
 * size checks; each error names the file and the byte offset.
 */
import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import { DatasetError } from "@memorize/core"
import { concatBits } from "./bits.ts"
import { MAX_FREQ_BITS, MIN_FREQ_BITS } from "./range-coder.ts"

export const MAGIC = "MZAC"
export const FORMAT_VERSION = 1
export const HEADER_BYTES = 164
const CHECKSUM_AT = 132
const NAME_BYTES = 16

/** Short printable-ASCII names (precision, backend), stored zero padded. */
const Name = Schema.String.check(Schema.isMaxLength(NAME_BYTES), Schema.isPattern(/^[\x21-\x7e]*$/))
const Count = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2 ** 32 - 1 }))

/** What the header states; decoded through this schema when read back. */
export const CompressedHeader = Schema.Struct({
  version: Schema.Literal(FORMAT_VERSION),
  freqBits: Schema.Int.check(Schema.isBetween({ minimum: MIN_FREQ_BITS, maximum: MAX_FREQ_BITS })),
  bos: Schema.Boolean,
  precision: Name,
  backend: Name,
  count: Count,
  seqLen: Count,
  vocab: Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 2 ** (MAX_FREQ_BITS - 1) })),
  batch: Count,
  modelHash: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  tokensHash: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/))
})
export type CompressedHeader = typeof CompressedHeader.Type

export interface CompressedFile {
  readonly header: CompressedHeader
  /** Token count of each sequence. */
  readonly lengths: Uint32Array
  /** Code length of each sequence, bits. */
  readonly bitLengths: Float64Array
  /** Bit offset of each code word in `payload`. */
  readonly starts: Float64Array
  readonly payload: Uint8Array
}

/** SHA-256 of the sequences: each as its length then its ids, u32 little-endian. */
export const tokensHash = (sequences: ReadonlyArray<Uint32Array>): string => {
  const h = createHash("sha256")
  const len = new Uint32Array(1)
  for (const s of sequences) {
    len[0] = s.length
    h.update(u32le(len))
    h.update(u32le(s))
  }
  return h.digest("hex")
}

// Uint32Array bytes in little-endian order whatever the machine.
const u32le = (a: Uint32Array): Uint8Array => {
  const out = new Uint8Array(a.length * 4)
  const v = new DataView(out.buffer)
  for (let i = 0; i < a.length; i++) v.setUint32(i * 4, a[i], true)
  return out
}

const pushVarint = (out: Array<number>, n: number) => {
  let v = n
  while (v >= 128) {
    out.push((v % 128) | 128)
    v = Math.floor(v / 128)
  }
  out.push(v)
}

const checksum = (bytes: Uint8Array): Buffer => createHash("sha256").update(bytes.subarray(0, CHECKSUM_AT)).update(bytes.subarray(HEADER_BYTES)).digest()

/** The file's bytes: header, index and the code words (in sequence order). */
export const writeCompressed = (
  header: CompressedHeader,
  lengths: ArrayLike<number>,
  codes: ReadonlyArray<{ readonly bytes: Uint8Array; readonly bitLength: number }>
): Uint8Array => {
  const index: Array<number> = []
  let payloadBits = 0
  for (let i = 0; i < codes.length; i++) {
    pushVarint(index, lengths[i])
    pushVarint(index, codes[i].bitLength)
    payloadBits += codes[i].bitLength
  }
  const payload = concatBits(codes)
  const out = new Uint8Array(HEADER_BYTES + index.length + payload.length)
  const v = new DataView(out.buffer)
  out.set(new TextEncoder().encode(MAGIC), 0)
  v.setUint16(4, header.version, true)
  v.setUint8(6, header.freqBits)
  v.setUint8(7, header.bos ? 1 : 0)
  out.set(new TextEncoder().encode(header.precision).subarray(0, NAME_BYTES), 8)
  out.set(new TextEncoder().encode(header.backend).subarray(0, NAME_BYTES), 24)
  v.setUint32(40, header.count, true)
  v.setUint32(44, header.seqLen, true)
  v.setUint32(48, header.vocab, true)
  v.setUint32(52, header.batch, true)
  v.setUint32(56, index.length, true)
  v.setBigUint64(60, BigInt(payloadBits), true)
  out.set(Buffer.from(header.modelHash, "hex"), 68)
  out.set(Buffer.from(header.tokensHash, "hex"), 100)
  out.set(index, HEADER_BYTES)
  out.set(payload, HEADER_BYTES + index.length)
  out.set(checksum(out), CHECKSUM_AT)
  return out
}

const ascii = (bytes: Uint8Array) => {
  const end = bytes.indexOf(0)
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end))
}

/** Parses and checks a compressed file: magic, version, checksum, header fields, index against payload. */
export const readCompressed = (bytes: Uint8Array, file: string): Effect.Effect<CompressedFile, DatasetError> =>
  Effect.gen(function* () {
    const fail = (offset: number, message: string) => Effect.fail(new DatasetError({ dataset: "compressed", file, message: `byte ${offset}: ${message}` }))
    if (bytes.length < HEADER_BYTES) {
      return yield* fail(
        bytes.length,
        `the file has ${bytes.length} bytes, fewer than the ${HEADER_BYTES}-byte header: truncated, or not a memorize compressed file`
      )
    }
    const magic = ascii(bytes.subarray(0, 4))
    if (magic !== MAGIC) return yield* fail(0, `magic is ${JSON.stringify(magic)}, expected "${MAGIC}": not a memorize compressed file`)
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const version = v.getUint16(4, true)
    if (version !== FORMAT_VERSION) return yield* fail(4, `format version ${version}; this memorize reads version ${FORMAT_VERSION}`)
    const stored = Buffer.from(bytes.subarray(CHECKSUM_AT, HEADER_BYTES)).toString("hex")
    const computed = checksum(bytes).toString("hex")
    if (stored !== computed) {
      return yield* fail(
        CHECKSUM_AT,
        `checksum mismatch (stored ${stored.slice(0, 16)}…, content hashes to ${computed.slice(0, 16)}…): the file is corrupted or truncated`
      )
    }
    const flags = v.getUint8(7)
    if (flags > 1) return yield* fail(7, `unknown flags ${flags}`)
    const raw = {
      version,
      freqBits: v.getUint8(6),
      bos: flags === 1,
      precision: ascii(bytes.subarray(8, 8 + NAME_BYTES)),
      backend: ascii(bytes.subarray(24, 24 + NAME_BYTES)),
      count: v.getUint32(40, true),
      seqLen: v.getUint32(44, true),
      vocab: v.getUint32(48, true),
      batch: v.getUint32(52, true),
      modelHash: Buffer.from(bytes.subarray(68, 100)).toString("hex"),
      tokensHash: Buffer.from(bytes.subarray(100, 132)).toString("hex")
    }
    const header = yield* Schema.decodeUnknownEffect(CompressedHeader)(raw).pipe(
      Effect.mapError((e) => new DatasetError({ dataset: "compressed", file, message: `header: ${e.message}` }))
    )
    const indexLength = v.getUint32(56, true)
    const payloadBits = Number(v.getBigUint64(60, true))
    const payloadAt = HEADER_BYTES + indexLength
    const payloadBytes = Math.ceil(payloadBits / 8)
    if (payloadAt + payloadBytes !== bytes.length) {
      return yield* fail(
        56,
        `header says ${indexLength} index bytes and ${payloadBits} payload bits (file of ${payloadAt + payloadBytes} bytes), the file has ${bytes.length}`
      )
    }
    // Each sequence takes at least two index bytes (two varints): a count the index cannot hold is refused before
    // the arrays for it are allocated (a corrupted count of 2³² would otherwise end in an allocation failure).
    if (header.count > indexLength / 2)
      return yield* fail(40, `header says ${header.count} sequences; an index of ${indexLength} bytes holds at most ${Math.floor(indexLength / 2)}`)
    const lengths = new Uint32Array(header.count)
    const bitLengths = new Float64Array(header.count)
    const starts = new Float64Array(header.count)
    let at = HEADER_BYTES
    const varint = (what: string, i: number) => {
      let n = 0
      let scale = 1
      for (let k = 0; k < 8; k++) {
        if (at >= payloadAt) return { error: `index ends inside the ${what} of sequence ${i}` }
        const b = bytes[at++]
        n += (b & 127) * scale
        if (b < 128) return { value: n }
        scale *= 128
      }
      return { error: `${what} of sequence ${i} is longer than 8 bytes` }
    }
    let bit = 0
    for (let i = 0; i < header.count; i++) {
      const from = at
      const len = varint("token count", i)
      if (len.error !== undefined) return yield* fail(from, len.error)
      if (len.value < 1 || len.value > header.seqLen) return yield* fail(from, `sequence ${i} has ${len.value} tokens, outside 1…${header.seqLen} (seqLen)`)
      const bitsAt = at
      const bits = varint("code length", i)
      if (bits.error !== undefined) return yield* fail(bitsAt, bits.error)
      lengths[i] = len.value
      bitLengths[i] = bits.value
      starts[i] = bit
      bit += bits.value
    }
    if (at !== payloadAt) return yield* fail(at, `the index of ${header.count} sequences ends here, ${payloadAt - at} bytes before the payload`)
    if (bit !== payloadBits) return yield* fail(60, `the index adds up to ${bit} payload bits, the header says ${payloadBits}`)
    return { header, lengths, bitLengths, starts, payload: bytes.subarray(payloadAt) }
  })
