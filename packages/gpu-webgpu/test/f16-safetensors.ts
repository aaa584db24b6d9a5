/**
 * Test helper: an F16 safetensors file written by hand, independent of the
 * project's writer (which writes F32 and BF16 only), for values that are
 * exact in binary16 (normal numbers, no rounding needed).
 */
import * as fs from "node:fs"

/** binary16 bits of a value exact in binary16 (normal or zero). */
export const f16Bits = (x: number): number => {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0
  const sign = x < 0 ? 0x8000 : 0
  const a = Math.abs(x)
  let e = 0
  while (2 ** (e + 1) <= a) e++
  while (2 ** e > a) e--
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024)
}

/** Writes `tensors` as F16 under `transformer.<name>` (Hugging Face GPT-2 style) into `file`. */
export const writeF16Safetensors = (
  file: string,
  tensors: Iterable<{ readonly name: string; readonly dims: ReadonlyArray<number>; readonly values: ArrayLike<number> }>
): void => {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } }
  const chunks: Array<Uint8Array> = []
  let off = 0
  for (const t of tensors) {
    const bytes = new Uint8Array(Uint16Array.from(t.values, f16Bits).buffer)
    header[`transformer.${t.name}`] = { dtype: "F16", shape: t.dims, data_offsets: [off, off + bytes.length] }
    chunks.push(bytes)
    off += bytes.length
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(8 + json.length + off)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let at = 8 + json.length
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  fs.writeFileSync(file, out)
}
