import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits } from "../src/checkpoint/dtype.ts"
import { encodeSafetensors, openSafetensors, saveFileOrder, readSafetensors, writeSafetensors, type WriteTensor } from "../src/checkpoint/safetensors.ts"

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-st-"))

/** A safetensors file assembled by hand, so the reader is tested against bytes it did not write. */
const rawFile = (header: unknown, data: Uint8Array, pad = true): Uint8Array => {
  let json = new TextEncoder().encode(JSON.stringify(header))
  if (pad) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20)
    padded.set(json)
    json = padded
  }
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}

const u16Bytes = (bits: ReadonlyArray<number>) => new Uint8Array(Uint16Array.from(bits).buffer)

const readError = (file: string) => Effect.flip(Effect.scoped(Effect.flatMap(openSafetensors(file), (s) => Effect.forEach(s.names, (n) => s.read(n)))))

describe("safetensors format", () => {
  it.effect("writes the exact bytes of the format (space-padded header, LE data)", () =>
    Effect.gen(function* () {
      const bytes = yield* encodeSafetensors([{ name: "a", shape: [2], data: Float32Array.from([1, -2]) }])
      const json = `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
      const padded = Math.ceil(json.length / 8) * 8
      expect(Number(new DataView(bytes.buffer).getBigUint64(0, true))).toBe(padded)
      expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded))).toBe(json + " ".repeat(padded - json.length))
      expect([...bytes.subarray(8 + padded)]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0])
    })
  )

  it.effect("is byte-identical to safetensors 0.8.0's Python save_file (torch bf16), order and padding included", () =>
    Effect.gen(function* () {
      // Python: save_file({"zeta": f32 [1, -2.5], "alpha.bias": bf16 [[3, 1.00390625, 1.01171875]],
      //                    "Beta": f32 scalar 0.5, "alpha.weight": f32 zeros (0, 3)}, metadata={"format": "pt"})
      const golden =
        "GAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJCZXRhIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOltdLCJkYXRhX29mZnNldHMiOlswLDRdfSwiYWxwaGEud2VpZ2h0Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlswLDNdLCJkYXRhX29mZnNldHMiOls0LDRdfSwiemV0YSI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMl0sImRhdGFfb2Zmc2V0cyI6WzQsMTJdfSwiYWxwaGEuYmlhcyI6eyJkdHlwZSI6IkJGMTYiLCJzaGFwZSI6WzEsM10sImRhdGFfb2Zmc2V0cyI6WzEyLDE4XX19ICAgAAAAPwAAgD8AACDAQECAP4I/"
      const ours = yield* encodeSafetensors(
        [
          { name: "zeta", shape: [2], data: Float32Array.from([1, -2.5]) },
          { name: "alpha.bias", shape: [1, 3], data: Float32Array.from([3, 1.00390625, 1.01171875]), dtype: "BF16" },
          { name: "Beta", shape: [], data: Float32Array.from([0.5]) },
          { name: "alpha.weight", shape: [0, 3], data: new Float32Array(0) }
        ],
        { format: "pt" }
      )
      expect(Buffer.from(ours).toString("base64")).toBe(golden)
      const file = path.join(tmpDir(), "golden.safetensors")
      fs.writeFileSync(file, Buffer.from(golden, "base64"))
      const back = yield* readSafetensors(file)
      expect([...back.get("alpha.bias")!.data]).toEqual([3, 1, 1.015625])
      expect(back.get("alpha.bias")!.dtype).toBe("BF16")
    })
  )

  it.effect("F32 round trip: file bytes equal the in-memory encoding, values identical, rewrite identical", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const tensors: Array<WriteTensor> = [
        { name: "transformer.wte.weight", shape: [3, 2], data: Float32Array.from([0.1, -0.2, 3e-38, 1e30, -0, 7]) },
        { name: "scalar", shape: [], data: Float32Array.from([42]) },
        { name: "empty", shape: [0, 4], data: new Float32Array(0) }
      ]
      const file = path.join(dir, "m.safetensors")
      yield* writeSafetensors(file, tensors, { format: "pt" })
      const onDisk = new Uint8Array(fs.readFileSync(file))
      expect(onDisk).toEqual(yield* encodeSafetensors(tensors, { format: "pt" }))
      const back = yield* readSafetensors(file)
      expect([...back.keys()]).toEqual(["empty", "scalar", "transformer.wte.weight"])
      for (const t of tensors) {
        expect(back.get(t.name)!.dtype).toBe("F32")
        expect(back.get(t.name)!.shape).toEqual(t.shape)
        expect(back.get(t.name)!.data).toEqual(t.data)
      }
      const again = yield* encodeSafetensors(
        tensors.map((t) => ({ ...t, data: back.get(t.name)!.data })),
        { format: "pt" }
      )
      expect(again).toEqual(onDisk)
      const meta = yield* Effect.scoped(Effect.map(openSafetensors(file), (s) => s.metadata))
      expect(meta).toEqual({ format: "pt" })
      // No temp file is left beside the target.
      expect(fs.readdirSync(dir)).toEqual(["m.safetensors"])
    })
  )

  it.effect("BF16 round trip stores the rounded values and reads them back exactly", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      // biome-ignore lint/suspicious/noApproximativeNumericConstant: any value with many mantissa bits, not π
      const data = Float32Array.from([1, 1.00390625, 1.005859375, -3.14159, 65504, 1e-40])
      const file = path.join(dir, "b.safetensors")
      yield* writeSafetensors(file, [{ name: "x", shape: [6], data, dtype: "BF16" }])
      const back = (yield* readSafetensors(file)).get("x")!
      expect(back.dtype).toBe("BF16")
      expect([...back.data]).toEqual([...data].map((v) => bf16BitsToF32(f32ToBf16Bits(v))))
      // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa (1) wins; 1 + 1.5·2^-8 rounds up.
      expect(back.data[1]).toBe(1)
      expect(back.data[2]).toBe(1.0078125)
      // 1 + 3·2^-8 is a tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even.
      expect(bf16BitsToF32(f32ToBf16Bits(1 + 3 * 2 ** -8))).toBe(1.015625)
      expect(fs.statSync(file).size % 2).toBe(0)
    })
  )

  it.effect("decodes F16, BF16 and F64 files written by hand", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x8000, 0x7c00]
      const bf16 = [0x3f80, 0x4049, 0xff80, 0x0001]
      const f64 = new Uint8Array(Float64Array.from([0.5, -1e300]).buffer)
      const data = new Uint8Array(16 + 8 + 16)
      data.set(u16Bytes(f16), 0)
      data.set(u16Bytes(bf16), 16)
      data.set(f64, 24)
      const file = path.join(dir, "h.safetensors")
      fs.writeFileSync(
        file,
        rawFile(
          {
            h: { dtype: "F16", shape: [8], data_offsets: [0, 16] },
            b: { dtype: "BF16", shape: [2, 2], data_offsets: [16, 24] },
            d: { dtype: "F64", shape: [2], data_offsets: [24, 40] }
          },
          data,
          false
        )
      )
      const back = yield* readSafetensors(file)
      expect([...back.get("h")!.data]).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, 0.333251953125, -0, Infinity])
      expect(Object.is(back.get("h")!.data[6], -0)).toBe(true)
      expect([...back.get("b")!.data]).toEqual([1, 3.140625, -Infinity, 2 ** -133])
      expect([...back.get("d")!.data]).toEqual([0.5, -Infinity])
    })
  )

  it.effect("reads a sharded checkpoint through its index", () =>
    Effect.gen(function* () {
      const dir = tmpDir()
      yield* writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), [
        { name: "a", shape: [2], data: Float32Array.from([1, 2]) },
        { name: "b", shape: [1], data: Float32Array.from([3]) }
      ])
      yield* writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), [{ name: "c", shape: [1, 1], data: Float32Array.from([4]) }])
      const index = path.join(dir, "model.safetensors.index.json")
      fs.writeFileSync(
        index,
        JSON.stringify({
          metadata: { total_size: 16 },
          weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00001-of-00002.safetensors", c: "model-00002-of-00002.safetensors" }
        })
      )
      const all = yield* readSafetensors(index)
      expect([...all.keys()].sort()).toEqual(["a", "b", "c"])
      expect([...all.get("c")!.data]).toEqual([4])
      expect(all.get("c")!.shape).toEqual([1, 1])
      // A tensor the index promises but the shard lacks is named.
      fs.writeFileSync(index, JSON.stringify({ weight_map: { a: "model-00001-of-00002.safetensors", zz: "model-00002-of-00002.safetensors" } }))
      const err = yield* Effect.flip(readSafetensors(index))
      expect(err.tensor).toBe("zz")
      expect(err.file).toContain("model-00002-of-00002.safetensors")
      expect(err.message).toContain("zz")
      fs.writeFileSync(index, JSON.stringify({ metadata: {} }))
      expect((yield* Effect.flip(readSafetensors(index))).message).toContain("weight_map")
    })
  )
})

describe("safetensors errors name the file and tensor", () => {
  const good = () => rawFile({ w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(16))

  it.effect("truncated file: tensor bytes cut off", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "t.safetensors")
      fs.writeFileSync(file, good().subarray(0, good().length - 3))
      const err = yield* readError(file)
      expect(err._tag).toBe("ModelError")
      expect(err.file).toBe(file)
      expect(err.tensor).toBe("w")
      expect(err.message).toMatch(/out of range.*truncated/)
    })
  )

  it.effect("truncated file: shorter than the length prefix or the header", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "t.safetensors")
      fs.writeFileSync(file, good().subarray(0, 5))
      expect((yield* readError(file)).message).toContain("truncated file")
      fs.writeFileSync(file, good().subarray(0, 20))
      expect((yield* readError(file)).message).toMatch(/truncated file: the header needs/)
    })
  )

  it.effect("bad header JSON", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "j.safetensors")
      const bytes = good()
      bytes[9] = "!".charCodeAt(0)
      fs.writeFileSync(file, bytes)
      const err = yield* readError(file)
      expect(err.message).toContain("bad safetensors header")
      expect(err.file).toBe(file)
      fs.writeFileSync(file, rawFile([1, 2], new Uint8Array(0)))
      expect((yield* readError(file)).message).toContain("not an object")
    })
  )

  it.effect("unsupported dtype is named, with the tensor", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "d.safetensors")
      fs.writeFileSync(file, rawFile({ q: { dtype: "I8", shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4)))
      const err = yield* readError(file)
      expect(err.message).toContain("unsupported dtype I8 of tensor q")
      expect(err.tensor).toBe("q")
      fs.writeFileSync(file, rawFile({ q: { dtype: "F4", shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4)))
      const err2 = yield* readError(file)
      expect(err2.message).toContain("unsupported dtype F4 of tensor q")
    })
  )

  it.effect("offsets out of range, inconsistent with the shape, or overlapping", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "o.safetensors")
      fs.writeFileSync(file, rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, new Uint8Array(8)))
      const a = yield* readError(file)
      expect(a.tensor).toBe("w")
      expect(a.message).toContain("out of range")
      fs.writeFileSync(file, rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)))
      expect((yield* readError(file)).message).toContain("needs 12")
      fs.writeFileSync(
        file,
        rawFile(
          {
            u: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            v: { dtype: "F32", shape: [2], data_offsets: [4, 12] }
          },
          new Uint8Array(12)
        )
      )
      expect((yield* readError(file)).message).toMatch(/overlap/)
      fs.writeFileSync(file, rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0] } }, new Uint8Array(8)))
      expect((yield* readError(file)).message).toContain("data_offsets of tensor w")
    })
  )

  it.effect("missing file", () =>
    Effect.gen(function* () {
      const file = path.join(tmpDir(), "nope.safetensors")
      const err = yield* readError(file)
      expect(err.file).toBe(file)
      expect(err.message).toContain("cannot open")
    })
  )
})

describe("safetensors properties", () => {
  const tensorArb = fc.record({
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    bf16: fc.boolean()
  })
  const filesArb = fc.uniqueArray(
    fc.tuple(
      fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== "__metadata__"),
      tensorArb
    ),
    {
      selector: ([n]) => n,
      maxLength: 5
    }
  )

  it("write → read returns every tensor (F32 exactly, BF16 rounded) for arbitrary names and shapes", async () => {
    const dir = tmpDir()
    await fc.assert(
      fc.asyncProperty(filesArb, fc.integer(), async (entries, seed) => {
        let s = seed
        const tensors: Array<WriteTensor> = entries.map(([name, t]) => {
          const n = t.shape.reduce((a, b) => a * b, 1)
          const data = new Float32Array(n)
          for (let i = 0; i < n; i++) data[i] = Math.sin((s += 7919)) * 10 ** ((s % 9) - 4)
          return { name, shape: t.shape, data, dtype: t.bf16 ? ("BF16" as const) : ("F32" as const) }
        })
        const file = path.join(dir, "p.safetensors")
        await Effect.runPromise(writeSafetensors(file, tensors))
        // Read through the Buffer, not its .buffer: a small file's Buffer may be a view into Node's shared pool.
        expect(Number(fs.readFileSync(file).readBigUInt64LE(0)) % 8).toBe(0)
        const back = await Effect.runPromise(readSafetensors(file))
        expect([...back.keys()]).toEqual(saveFileOrder(tensors).map((t) => t.name))
        for (const t of tensors) {
          const want = t.dtype === "BF16" ? [...t.data].map((v) => bf16BitsToF32(f32ToBf16Bits(v))) : [...t.data]
          expect([...back.get(t.name)!.data]).toEqual(want)
        }
      }),
      // A name JavaScript objects treat specially, found once by a random run: always tried.
      { numRuns: 40, examples: [[[["__proto__", { shape: [], bf16: false }]], 0]] }
    )
  })

  it("any truncation of a valid file is a typed ModelError, never a crash", async () => {
    const dir = tmpDir()
    const full = await Effect.runPromise(
      encodeSafetensors([
        { name: "a", shape: [3], data: Float32Array.from([1, 2, 3]) },
        { name: "b", shape: [2], data: Float32Array.from([4, 5]), dtype: "BF16" }
      ])
    )
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: full.length - 1 }), async (cut) => {
        const file = path.join(dir, "cut.safetensors")
        fs.writeFileSync(file, full.subarray(0, cut))
        const err = await Effect.runPromise(readError(file))
        expect(err._tag).toBe("ModelError")
        expect(err.file).toBe(file)
      }),
      { numRuns: 60 }
    )
  })

  it("F16 decoding agrees with an independent IEEE binary16 formula on every pattern", () => {
    for (let b = 0; b < 65536; b++) {
      const e = (b >> 10) & 31
      const m = b & 1023
      const s = b >> 15 ? -1 : 1
      const want = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? ((s * m) / 1024) * 2 ** -14 : (s * 2 ** (e - 15) * (1024 + m)) / 1024
      expect(Object.is(f16BitsToF32(b), want)).toBe(true)
    }
  })
})

describe("float32 → bfloat16 rounding", () => {
  const f32 = new Float32Array(1)
  const u32 = new Uint32Array(f32.buffer)
  const fromBits = (bits: number) => {
    u32[0] = bits >>> 0
    return f32[0]
  }
  /** Value of a bf16 pattern, with the first pattern past the largest finite one counted at 2^128 (IEEE overflow rule). */
  const bfValue = (bits: number) => ((bits & 0x7fff) === 0x7f80 ? (bits & 0x8000 ? -1 : 1) * 2 ** 128 : bf16BitsToF32(bits))

  it("rounds to the nearest bf16, ties to even, and is idempotent (every finite float32)", () => {
    // Half the cases sit on or next to a rounding tie (low half 0x8000 ± 1), which uniform bits almost never hit.
    const near = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x7fff, 0x8000, 0x8001, 0, 0xffff)).map(([hi, lo]) => ((hi << 16) | lo) >>> 0)
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), near), (bits) => {
        const x = fromBits(bits)
        fc.pre(Number.isFinite(x))
        const r = f32ToBf16Bits(x)
        const lo = bits >>> 16 // truncation toward zero
        const hi = lo + 1 // next pattern away from zero
        const dLo = Math.abs(x - bfValue(lo))
        const dHi = Math.abs(bfValue(hi) - x)
        const want = dLo < dHi ? lo : dHi < dLo ? hi : lo & 1 ? hi : lo
        expect(r).toBe(want & 0xffff)
        // Idempotent: a bf16 value converts to itself.
        const y = bf16BitsToF32(r)
        expect(f32ToBf16Bits(y)).toBe(r)
      }),
      { numRuns: 20_000 }
    )
  })

  it("keeps NaN a NaN and infinities infinite", () => {
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true)
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(fromBits(0x7f800001))))).toBe(true)
    expect(bf16BitsToF32(f32ToBf16Bits(Infinity))).toBe(Infinity)
    expect(bf16BitsToF32(f32ToBf16Bits(-Infinity))).toBe(-Infinity)
    expect(bf16BitsToF32(f32ToBf16Bits(fromBits(0x7f7fffff)))).toBe(Infinity)
  })
})
