/**
 * The safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: N, u64 little endian][N bytes: JSON header][data section]
 *
 * The header maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }`
 * (offsets relative to the data section) plus an optional `__metadata__`
 * string→string map. The library's own writer (Python `save_file`) pads the
 * header with spaces to a multiple of 8 bytes so the data section is aligned;
 * this writer does too, byte for byte.
 *
 * Reading opens the file, reads only the header, and reads each tensor's byte
 * range when asked: a multi-gigabyte checkpoint never sits in memory whole.
 * Every malformed input is a `ModelError` naming the file and, where there is
 * one, the tensor.
 */
import { Effect, type Scope } from "effect"
import { ModelError } from "@memorize/core"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16 } from "./dtype.ts"

/** Element sizes of every dtype the format defines (so any valid header can be checked). */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8
} as const
export type SafetensorsDtype = keyof typeof DTYPE_BYTES
/** The dtypes this reader converts to Float32. */
export const READABLE_DTYPES: ReadonlyArray<SafetensorsDtype> = ["F32", "F16", "BF16", "F64"]
export type WritableDtype = "F32" | "BF16"

/** The safetensors library refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000

export interface TensorInfo {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** Offsets relative to the start of the data section. */
  readonly begin: number
  readonly end: number
  /** The file holding the tensor (the shard, for a sharded checkpoint). */
  readonly file: string
}

export interface SafetensorsHeader {
  readonly metadata: Readonly<Record<string, string>>
  /** In header order. */
  readonly tensors: ReadonlyArray<TensorInfo>
  /** Absolute file offset of the data section (8 + N). */
  readonly dataStart: number
}

/** Any source of named tensors: one file, or the shards of an index. */
export interface TensorSource {
  readonly files: ReadonlyArray<string>
  readonly metadata: Readonly<Record<string, string>>
  readonly names: ReadonlyArray<string>
  readonly info: (name: string) => TensorInfo | undefined
  /** The tensor's values converted to Float32 (F32, F16, BF16, F64). */
  readonly read: (name: string) => Effect.Effect<Float32Array, ModelError>
}

const fail = (file: string, message: string, tensor?: string) => Effect.fail(new ModelError({ message, file, ...(tensor !== undefined ? { tensor } : {}) }))

const ioError = (file: string, what: string) => (cause: unknown) =>
  new ModelError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, file })

const littleEndian = Effect.suspend(() =>
  os.endianness() === "LE"
    ? Effect.void
    : Effect.fail(new ModelError({ message: "safetensors data is little endian; this host is big endian and is not supported" }))
)

const isDtype = (s: unknown): s is SafetensorsDtype => typeof s === "string" && Object.hasOwn(DTYPE_BYTES, s)
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0

/**
 * Parses and validates the JSON header. `dataBytes` is the length of the data
 * section actually present in the file: offsets past it mean the file is
 * truncated or the header lies.
 */
export const parseHeader = (file: string, json: Uint8Array, dataStart: number, dataBytes: number): Effect.Effect<SafetensorsHeader, ModelError> =>
  Effect.gen(function* () {
    let parsed: unknown
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json))
    } catch (e) {
      return yield* fail(file, `bad safetensors header: not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`)
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return yield* fail(file, "bad safetensors header: the JSON header is not an object")
    }
    const metadata: Record<string, string> = Object.create(null)
    const tensors: Array<TensorInfo> = []
    for (const [name, raw] of Object.entries(parsed)) {
      if (name === "__metadata__") {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
          return yield* fail(file, "bad safetensors header: __metadata__ is not an object")
        }
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== "string") return yield* fail(file, `bad safetensors header: __metadata__.${k} is not a string`)
          metadata[k] = v
        }
        continue
      }
      if (typeof raw !== "object" || raw === null) {
        return yield* fail(file, `bad safetensors header: entry of tensor ${name} is not an object`, name)
      }
      const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>
      if (typeof dtype !== "string") return yield* fail(file, `bad safetensors header: tensor ${name} has no dtype`, name)
      if (!isDtype(dtype)) return yield* fail(file, `unsupported dtype ${dtype} of tensor ${name}`, name)
      if (!Array.isArray(shape) || !shape.every(isCount)) {
        return yield* fail(file, `bad safetensors header: shape of tensor ${name} is not a list of non-negative integers`, name)
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
        return yield* fail(file, `bad safetensors header: data_offsets of tensor ${name} is not [begin, end] with begin ≤ end`, name)
      }
      const [begin, end] = offsets as [number, number]
      const need = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[dtype]
      if (end - begin !== need) {
        return yield* fail(
          file,
          `data_offsets [${begin}, ${end}] of tensor ${name} span ${end - begin} bytes but ${dtype}[${shape.join(", ")}] needs ${need}`,
          name
        )
      }
      if (end > dataBytes) {
        return yield* fail(
          file,
          `data_offsets [${begin}, ${end}] of tensor ${name} are out of range: the data section has ${dataBytes} bytes (truncated file?)`,
          name
        )
      }
      tensors.push({ name, dtype, shape, begin, end, file })
    }
    // Tensors may not share bytes (the safetensors library's reader demands contiguity; gaps are harmless, overlap is corruption).
    const byBegin = [...tensors].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin)
    for (let i = 1; i < byBegin.length; i++) {
      if (byBegin[i].begin < byBegin[i - 1].end) {
        return yield* fail(file, `data_offsets of tensor ${byBegin[i].name} overlap tensor ${byBegin[i - 1].name}`, byBegin[i].name)
      }
    }
    // File order, not JSON key order: JavaScript lists integer-like keys ("0") first.
    return { metadata, tensors: [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end || compareSaveFileOrder(a, b)), dataStart }
  })

/** Reads exactly `length` bytes at `position` into a fresh (aligned) buffer. */
const readExactly = (handle: fs.FileHandle, file: string, position: number, length: number, what: string) =>
  Effect.tryPromise({
    try: async () => {
      const buf = new Uint8Array(new ArrayBuffer(length))
      let done = 0
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, position + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
      return { buf, done }
    },
    catch: ioError(file, `cannot read ${what}`)
  }).pipe(
    Effect.flatMap(({ buf, done }) =>
      done === length ? Effect.succeed(buf) : fail(file, `truncated file: ${what} needs ${length} bytes at offset ${position}, only ${done} present`)
    )
  )

/** Converts the raw bytes of one tensor to Float32, or names the dtype it cannot convert. */
export const decodeTensor = (info: TensorInfo, bytes: Uint8Array): Effect.Effect<Float32Array, ModelError> => {
  const n = (info.end - info.begin) / DTYPE_BYTES[info.dtype]
  switch (info.dtype) {
    case "F32":
      return Effect.succeed(new Float32Array(bytes.buffer, bytes.byteOffset, n).slice())
    case "BF16":
      return Effect.succeed(bf16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n)))
    case "F16":
      return Effect.succeed(f16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n)))
    case "F64":
      return Effect.succeed(Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, n)))
    default:
      return fail(info.file, `unsupported dtype ${info.dtype} of tensor ${info.name} (readable: ${READABLE_DTYPES.join(", ")})`, info.name)
  }
}

/** Opens one .safetensors file: reads its header now, tensors on demand. The handle closes with the scope. */
export const openSafetensors = (file: string): Effect.Effect<TensorSource, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* littleEndian
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => fs.open(file, "r"), catch: ioError(file, "cannot open safetensors file") }),
      // A failed close of a read-only handle loses nothing: ignore it rather than die.
      (h) => Effect.promise(() => h.close().catch(() => undefined))
    )
    const size = (yield* Effect.tryPromise({ try: () => handle.stat(), catch: ioError(file, "cannot stat") })).size
    if (size < 8) return yield* fail(file, `truncated file: ${size} bytes, shorter than the 8-byte header length`)
    const lenBytes = yield* readExactly(handle, file, 0, 8, "the header length")
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true)
    if (n > BigInt(MAX_HEADER_BYTES)) return yield* fail(file, `bad safetensors header: header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`)
    const headerLen = Number(n)
    if (8 + headerLen > size) {
      return yield* fail(file, `truncated file: the header needs ${headerLen} bytes after the length, the file has ${size - 8}`)
    }
    const json = yield* readExactly(handle, file, 8, headerLen, "the JSON header")
    const header = yield* parseHeader(file, json, 8 + headerLen, size - 8 - headerLen)
    const byName = new Map(header.tensors.map((t) => [t.name, t]))
    return {
      files: [file],
      metadata: header.metadata,
      names: header.tensors.map((t) => t.name),
      info: (name) => byName.get(name),
      read: (name) => {
        const info = byName.get(name)
        if (info === undefined) return fail(file, `no tensor ${name} in this file`, name)
        return readExactly(handle, file, header.dataStart + info.begin, info.end - info.begin, `tensor ${name}`).pipe(
          Effect.flatMap((bytes) => decodeTensor(info, bytes))
        )
      }
    } satisfies TensorSource
  })

/**
 * Opens a sharded checkpoint through its `*.safetensors.index.json`
 * (`{ "metadata": {...}, "weight_map": { name: shardFile } }`). Every shard is
 * opened (headers only) and must hold the tensors the map gives it.
 */
export const openSafetensorsIndex = (indexFile: string): Effect.Effect<TensorSource, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({ try: () => fs.readFile(indexFile, "utf8"), catch: ioError(indexFile, "cannot read index") })
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      return yield* fail(indexFile, `bad index JSON: ${e instanceof Error ? e.message : String(e)}`)
    }
    const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      return yield* fail(indexFile, "bad index JSON: no weight_map object")
    }
    const dir = nodePath.dirname(indexFile)
    const shards = new Map<string, TensorSource>()
    const byName = new Map<string, TensorSource>()
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
        return yield* fail(indexFile, `bad index JSON: weight_map entry of tensor ${name} is not a shard file name`, name)
      }
      let source = shards.get(shard)
      if (source === undefined) {
        source = yield* openSafetensors(nodePath.join(dir, shard))
        shards.set(shard, source)
      }
      if (source.info(name) === undefined) return yield* fail(nodePath.join(dir, shard), `tensor ${name} listed in the index is missing from its shard`, name)
      byName.set(name, source)
    }
    const metadata: Record<string, string> = Object.create(null)
    for (const s of shards.values()) Object.assign(metadata, s.metadata)
    return {
      files: [...shards.values()].flatMap((s) => s.files),
      metadata,
      names: [...byName.keys()],
      info: (name) => byName.get(name)?.info(name),
      read: (name) => {
        const source = byName.get(name)
        return source === undefined ? fail(indexFile, `no tensor ${name} in the index`, name) : source.read(name)
      }
    } satisfies TensorSource
  })

/** Opens a `.safetensors` file or a `.safetensors.index.json`, by its name. */
export const openTensorSource = (file: string): Effect.Effect<TensorSource, ModelError, Scope.Scope> =>
  file.endsWith(".json") ? openSafetensorsIndex(file) : openSafetensors(file)

export interface WriteTensor {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
  /** Stored dtype; F32 unless asked. */
  readonly dtype?: WritableDtype
}

const encodeData = (t: WriteTensor): Uint8Array => {
  const payload = t.dtype === "BF16" ? f32ArrayToBf16(t.data) : t.data
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
}

/** Rank of a dtype in the safetensors library's `Dtype` enum (its derived ordering). */
const DTYPE_RANK: Record<WritableDtype, number> = { BF16: 0, F32: 1 }

/**
 * `save_file`'s layout order: larger dtypes first (so each tensor
 * stays aligned), then by name (byte order). Writing in this order makes our
 * files byte-identical to `safetensors.save_file`'s.
 */
export const saveFileOrder = (tensors: ReadonlyArray<WriteTensor>): Array<WriteTensor> => [...tensors].sort(compareSaveFileOrder)

/** `save_file`'s order: larger dtype rank first, then name by UTF-8 bytes. */
function compareSaveFileOrder(
  a: { readonly name: string; readonly dtype?: SafetensorsDtype | undefined },
  b: { readonly name: string; readonly dtype?: SafetensorsDtype | undefined }
): number {
  const rank = (d: SafetensorsDtype | undefined) => (DTYPE_RANK as Record<string, number>)[d ?? "F32"] ?? 0
  const byDtype = rank(b.dtype) - rank(a.dtype)
  if (byDtype !== 0) return byDtype
  return Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8"))
}

/**
 * The 8-byte length + JSON header for these tensors, laid out back to back in
 * the given order (callers use `saveFileOrder`), padded with spaces to a
 * multiple of 8 as `save_file` does.
 */
export const encodeHeader = (
  tensors: ReadonlyArray<WriteTensor>,
  metadata?: Readonly<Record<string, string>>,
  file = "<memory>"
): Effect.Effect<Uint8Array, ModelError> =>
  Effect.gen(function* () {
    // No prototype: a tensor named "__proto__" is an own key like any other (on {} it would set the prototype and vanish).
    const header: Record<string, unknown> = Object.create(null)
    if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata
    let offset = 0
    for (const t of tensors) {
      const numel = t.shape.reduce((a, b) => a * b, 1)
      if (numel !== t.data.length) {
        return yield* fail(file, `tensor ${t.name} has ${t.data.length} values but shape [${t.shape.join(", ")}] needs ${numel}`, t.name)
      }
      if (t.name === "__metadata__" || Object.hasOwn(header, t.name)) {
        return yield* fail(file, `duplicate or reserved tensor name ${t.name}`, t.name)
      }
      const dtype = t.dtype ?? "F32"
      const bytes = numel * DTYPE_BYTES[dtype]
      header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
      offset += bytes
    }
    const json = new TextEncoder().encode(JSON.stringify(header))
    const padded = Math.ceil(json.length / 8) * 8
    const out = new Uint8Array(8 + padded).fill(0x20)
    new DataView(out.buffer).setBigUint64(0, BigInt(padded), true)
    out.set(json, 8)
    return out
  })

/** The whole file in memory (small models and tests), in `save_file`'s order. */
export const encodeSafetensors = (tensors: ReadonlyArray<WriteTensor>, metadata?: Readonly<Record<string, string>>): Effect.Effect<Uint8Array, ModelError> =>
  Effect.gen(function* () {
    yield* littleEndian
    const ordered = saveFileOrder(tensors)
    const head = yield* encodeHeader(ordered, metadata)
    const parts = ordered.map(encodeData)
    const out = new Uint8Array(head.length + parts.reduce((a, p) => a + p.length, 0))
    out.set(head, 0)
    let at = head.length
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  })

/**
 * Writes `file` atomically: streams into a temporary file in the same folder,
 * then renames it over the target, so a reader never sees half a checkpoint.
 */
export const writeFileAtomic = (file: string, write: (handle: fs.FileHandle) => Promise<void>): Effect.Effect<void, ModelError> => {
  const tmp = nodePath.join(nodePath.dirname(file), `.${nodePath.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`)
  return Effect.tryPromise({
    try: async () => {
      await fs.mkdir(nodePath.dirname(file), { recursive: true })
      const handle = await fs.open(tmp, "w")
      try {
        await write(handle)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await fs.rename(tmp, file)
    },
    catch: (cause) => cause
  }).pipe(Effect.catch((cause) => Effect.promise(() => fs.rm(tmp, { force: true })).pipe(Effect.andThen(Effect.fail(ioError(file, "cannot write")(cause))))))
}

/**
 * Writes a .safetensors file atomically, one tensor at a time (no whole-file
 * buffer), byte-identical to what `save_file` makes of the same tensors.
 */
export const writeSafetensors = (
  file: string,
  tensors: ReadonlyArray<WriteTensor>,
  metadata?: Readonly<Record<string, string>>
): Effect.Effect<void, ModelError> =>
  Effect.gen(function* () {
    yield* littleEndian
    const ordered = saveFileOrder(tensors)
    const head = yield* encodeHeader(ordered, metadata, file)
    yield* writeFileAtomic(file, async (handle) => {
      await handle.write(head)
      for (const t of ordered) await handle.write(encodeData(t))
    })
  })

/** Reads every tensor of a file or index (as Float32) with its dtype and shape. */
export const readSafetensors = (
  file: string
): Effect.Effect<Map<string, { readonly dtype: SafetensorsDtype; readonly shape: ReadonlyArray<number>; readonly data: Float32Array }>, ModelError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* openTensorSource(file)
      const out = new Map<string, { dtype: SafetensorsDtype; shape: ReadonlyArray<number>; data: Float32Array }>()
      for (const name of source.names) {
        const info = source.info(name)!
        out.set(name, { dtype: info.dtype, shape: info.shape, data: yield* source.read(name) })
      }
      return out
    })
  )
