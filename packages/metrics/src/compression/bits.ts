/**
 * Bit streams for the arithmetic coder: a growable MSB-first writer and a
 * reader that returns 0 past the end (the decoder reads 32 bits ahead of the
 * symbol it decodes, beyond the end of a short code word).
 */

export class BitWriter {
  private bytes = new Uint8Array(64)
  /** Bits written so far. */
  length = 0

  write(bit: number): void {
    const byte = this.length >>> 3
    if (byte >= this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2)
      grown.set(this.bytes)
      this.bytes = grown
    }
    if (bit) this.bytes[byte] |= 0x80 >>> (this.length & 7)
    this.length++
  }

  /** Writes `bit` `n` times. */
  repeat(bit: number, n: number): void {
    for (let i = 0; i < n; i++) this.write(bit)
  }

  /** The bits written, packed MSB first into ⌈length/8⌉ bytes (unused low bits are 0). */
  toBytes(): Uint8Array {
    return this.bytes.slice(0, (this.length + 7) >>> 3)
  }
}

/** Reads `bitLength` bits of `bytes` starting at bit `start`; 0 after them. */
export class BitReader {
  private readonly bytes: Uint8Array
  private readonly start: number
  private readonly bitLength: number
  private pos = 0

  constructor(bytes: Uint8Array, start: number, bitLength: number) {
    this.bytes = bytes
    this.start = start
    this.bitLength = bitLength
  }

  read(): number {
    if (this.pos >= this.bitLength) return 0
    const i = this.start + this.pos++
    return (this.bytes[i >>> 3] >>> (7 - (i & 7))) & 1
  }
}

/** Concatenates bit strings (bytes + bit length each) without padding between them. */
export const concatBits = (parts: ReadonlyArray<{ readonly bytes: Uint8Array; readonly bitLength: number }>): Uint8Array => {
  let total = 0
  for (const p of parts) total += p.bitLength
  const out = new Uint8Array(Math.ceil(total / 8))
  let at = 0
  for (const p of parts) {
    if ((at & 7) === 0) {
      // Byte-aligned start: copy whole bytes (the part's tail bits are already 0).
      out.set(p.bytes.subarray(0, Math.ceil(p.bitLength / 8)), at >>> 3)
      at += p.bitLength
      continue
    }
    for (let i = 0; i < p.bitLength; i++, at++) {
      if ((p.bytes[i >>> 3] >>> (7 - (i & 7))) & 1) out[at >>> 3] |= 0x80 >>> (at & 7)
    }
  }
  return out
}
