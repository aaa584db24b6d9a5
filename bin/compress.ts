/**
 * `memorize compress` / `memorize decompress`: arithmetic coding of token
 * sequences under a checkpoint, and exact decoding back. The compressed file
 * (format: packages/metrics/src/compression/format.ts) records the settings
 * the model was evaluated with, the SHA-256 of its weights and of the
 * original tokens, so `decompress` refuses another model and detects a model
 * that computes other floats (another backend) instead of printing garbage.
 *
 *   memorize compress --model runs/x/abc --tokens seqs.jsonl [--out seqs.mzac]
 *     → stdout: one JSON summary (compressed bits beside the code length)
 *   memorize decompress --model runs/x/abc --in seqs.mzac [--out seqs.jsonl]
 *     → the sequences as JSONL (stdout, or --out written atomically)
 *
 * Checkpoints load as in `memorize eval` (bin/eval.ts): any Hugging Face
 * GPT-2 safetensors layout, one model per sequence length with its position
 * table cut to that length.
 */
import { ModelError, SpecError, stderrProgress, writeFileAtomic as coreWriteFileAtomic } from "@memorize/core"
import {
  chooseDevice,
  type Device,
  devices,
  firstPositions,
  gpt2TensorShapes,
  type Gpt2Weights,
  loadCheckpoint,
  openGpt2,
  type Precision,
  WebGpu
} from "@memorize/gpu-webgpu"
import { compression } from "@memorize/metrics"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { readEvalTokens } from "@memorize/eval"

const precisions = ["fp32", "bf16", "bf16-params", "fp16"] as const

/**
 * SHA-256 of a model's weights: its shape, then every tensor in the canonical
 * order with its shape and float32 values (little-endian, as every machine
 * memorize runs on stores them). Independent of the file's dtype and layout.
 */
export const weightsHash = (w: Gpt2Weights): string => {
  const h = createHash("sha256")
  h.update(JSON.stringify({ ...w.shape }, Object.keys(w.shape).sort()))
  for (const [name, shape] of gpt2TensorShapes(w.shape)) {
    const t = w.tensors.get(name)
    h.update(`\n${name}[${shape.join(",")}]:`)
    if (t !== undefined) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
  }
  return h.digest("hex")
}

export interface LoadedModel {
  readonly path: string
  readonly weights: Gpt2Weights
  readonly hash: string
  /** Data vocabulary: the model's, less BOS. */
  readonly dataVocab: number
  readonly lead: number
}

export const loadModel = (path: string, bos: boolean): Effect.Effect<LoadedModel, ModelError> =>
  Effect.gen(function* () {
    const abs = nodePath.resolve(path)
    const weights = yield* loadCheckpoint(abs)
    const lead = bos ? 1 : 0
    const dataVocab = weights.shape.vocabSize - lead
    if (dataVocab < 2)
      return yield* new ModelError({ message: `vocab_size ${weights.shape.vocabSize} leaves ${dataVocab} data tokens; at least 2 are needed`, file: abs })
    return { path: abs, weights, hash: weightsHash(weights), dataVocab, lead }
  })

/**
 * The coder's view of the model for sequences of `length` tokens: the model
 * with that many positions, on one resolved backend (encoder and decoder must
 * use the same one: they may compute different floats).
 */
const sourceFor = (m: LoadedModel, options: { readonly precision: Precision; readonly bos: boolean; readonly device: "cpu" | "webgpu" }) => (length: number) =>
  openGpt2(firstPositions(m.weights, length + m.lead), options).pipe(
    Effect.mapError((e) =>
      e._tag === "DeviceError" ? new ModelError({ message: `cannot load the checkpoint onto ${options.device}: ${e.message}`, file: m.path }) : e
    )
  )

const ioError = (file: string) => (e: unknown) => new ModelError({ message: `cannot write: ${e instanceof Error ? e.message : String(e)}`, file })

/** Writes `file` through a temporary file in its folder, renamed over it once complete and synced. */
/** Writes a file atomically (core's writer), as a ModelError naming the file. */
export const writeFileAtomic = (file: string, data: Uint8Array | string) => coreWriteFileAtomic(file, data).pipe(Effect.mapError(ioError(file)))

export interface CompressOptions {
  readonly model: string
  readonly tokens: string
  readonly out?: string
  readonly precision?: Precision
  readonly bos?: boolean
  /** Backend; `auto` as in `memorize eval` (the resolved one is recorded in the file). */
  readonly device?: Device
  readonly batch?: number
  readonly freqBits?: number
  readonly onProgress?: (done: number, total: number) => void
}

const sumOf = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0)

/** Compresses a token file; returns the summary printed by the command. */
export const compressFile = (options: CompressOptions) =>
  Effect.gen(function* () {
    const precision = options.precision ?? "fp32"
    const bos = options.bos ?? false
    const backend = yield* chooseDevice(options.device ?? "auto")
    const m = yield* loadModel(options.model, bos)
    const tokensPath = nodePath.resolve(options.tokens)
    const maxLen = m.weights.shape.nPositions - m.lead
    const file = yield* readEvalTokens(tokensPath, {
      vocab: m.dataVocab,
      maxLen,
      maxLenWhy: `the model's n_positions = ${m.weights.shape.nPositions}${m.lead ? " (one position goes to BOS)" : ""}`
    })
    const out = nodePath.resolve(options.out ?? `${options.tokens}.mzac`)
    const started = Date.now()
    const { bytes, stats } = yield* compression.compressSequences(
      file.sequences,
      {
        vocab: m.dataVocab,
        modelHash: m.hash,
        precision,
        backend,
        bos,
        freqBits: options.freqBits ?? compression.MAX_FREQ_BITS,
        batch: options.batch ?? 256,
        ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {})
      },
      sourceFor(m, { precision, bos, device: backend })
    )
    yield* writeFileAtomic(out, bytes)
    const payloadBits = sumOf(stats.bits)
    const codeLength = sumOf(stats.logitBits)
    return {
      file: out,
      model: m.path,
      modelHash: m.hash,
      precision,
      backend,
      count: stats.count,
      tokens: stats.tokens,
      bytes: bytes.length,
      payloadBits,
      codeLengthBits: codeLength,
      overheadBits: payloadBits - codeLength,
      overheadBitsPerSequence: (payloadBits - codeLength) / stats.count,
      quantizationLossBits: sumOf(stats.quantizedBits) - codeLength,
      boundBits: sumOf(stats.boundBits),
      bitsPerToken: payloadBits / stats.tokens,
      fileBitsPerToken: (8 * bytes.length) / stats.tokens,
      wallMs: Date.now() - started
    }
  })

export interface DecompressOptions {
  readonly model: string
  readonly input: string
  readonly out?: string
  readonly onProgress?: (done: number, total: number) => void
}

/** The file's bytes and its checked header: how the model must be evaluated to decode it. */
export const readCompressedHeader = (file: string) =>
  Effect.gen(function* () {
    const input = nodePath.resolve(file)
    const bytes = yield* Effect.tryPromise({
      try: () => fs.readFile(input),
      catch: (e) => new ModelError({ message: `cannot read: ${e instanceof Error ? e.message : String(e)}`, file: input })
    })
    const header = yield* compression.readHeader(bytes, input)
    if (header.backend !== "cpu" && header.backend !== "webgpu") {
      return yield* new ModelError({
        message: `${input} was compressed on backend "${header.backend}"; memorize decompresses on cpu or webgpu only`,
        file: input
      })
    }
    if (!(precisions as ReadonlyArray<string>).includes(header.precision)) {
      return yield* new ModelError({ message: `${input} names precision "${header.precision}", not one of ${precisions.join(", ")}`, file: input })
    }
    return { input, bytes, header, backend: header.backend as "cpu" | "webgpu", precision: header.precision as Precision }
  })

/**
 * Decompresses a file on the backend and precision it was compressed with
 * (the WebGPU device must be provided when that backend is webgpu).
 */
export const decompressFile = (options: DecompressOptions) =>
  Effect.gen(function* () {
    const { input, bytes, header, backend, precision } = yield* readCompressedHeader(options.input)
    const m = yield* loadModel(options.model, header.bos)
    return yield* compression.decompressSequences(
      bytes,
      input,
      { hash: m.hash, path: m.path, vocab: m.dataVocab },
      sourceFor(m, { precision, bos: header.bos, device: backend }),
      options.onProgress
    )
  })

/** A bad flag value: a usage error (exit code 2), named like core's commands name theirs. */
const usageError = (flag: string, message: string) => new SpecError({ file: flag, issues: [{ path: flag, message }] })

const jsonl = (sequences: ReadonlyArray<Uint32Array>) => sequences.map((s) => `${JSON.stringify(Array.from(s))}\n`).join("")

export const compressCommand = Command.make(
  "compress",
  {
    model: Flag.String("model").pipe(Flag.withDescription("checkpoint: a folder with config.json + model.safetensors (or a sharded index), or the file")),
    tokens: Flag.String("tokens").pipe(Flag.withDescription('JSONL: one sequence a line, [ids...] or {"tokens": [ids...]}; lengths 1..n_positions')),
    out: Flag.String("out").pipe(Flag.withDescription("compressed file to write (default: the token file + .mzac)"), Flag.optional),
    precision: Flag.Literals("precision", precisions).pipe(
      Flag.withDescription("arithmetic the model is evaluated in (recorded in the file)"),
      Flag.withDefault("fp32" as const)
    ),
    bos: Flag.Boolean("bos").pipe(Flag.withDescription("the checkpoint was trained with a BOS token (the last id)"), Flag.withDefault(false)),
    device: Flag.Literals("device", devices).pipe(
      Flag.withDescription("cpu (native), webgpu, or auto: WebGPU on a real GPU, else the native CPU backend (recorded; decompress uses the same)"),
      Flag.withDefault("auto" as Device)
    ),
    batch: Flag.Int("batch").pipe(Flag.withDescription("sequences per model call (recorded; decompress uses the same)"), Flag.withDefault(256)),
    freqBits: Flag.Int("freq-bits").pipe(Flag.withDescription("log2 of the integer frequency total, 16..24"), Flag.withDefault(24))
  },
  (flags) =>
    Effect.gen(function* () {
      if (!Number.isInteger(flags.batch) || flags.batch < 1)
        return yield* usageError("--batch", `expected an integer ≥ 1 (sequences per model call), found ${flags.batch}`)
      if (!Number.isInteger(flags.freqBits) || flags.freqBits < compression.MIN_FREQ_BITS || flags.freqBits > compression.MAX_FREQ_BITS) {
        return yield* usageError("--freq-bits", `expected an integer in ${compression.MIN_FREQ_BITS}..${compression.MAX_FREQ_BITS}, found ${flags.freqBits}`)
      }
      const progress = stderrProgress({ what: "compress", unit: "sequences", rateUnit: "seq/s" })
      const options: CompressOptions = {
        model: flags.model,
        tokens: flags.tokens,
        ...(Option.isSome(flags.out) ? { out: flags.out.value } : {}),
        precision: flags.precision,
        bos: flags.bos,
        device: flags.device,
        batch: flags.batch,
        freqBits: flags.freqBits,
        onProgress: progress.update
      }
      // As in `memorize eval`: WebGPU is started only when it may be used; `auto` without an adapter runs on the CPU.
      const onCpu = compressFile({ ...options, device: "cpu" })
      const summary = yield* (
        flags.device === "cpu"
          ? onCpu
          : compressFile(options).pipe(
              Effect.provide(WebGpu.layer),
              Effect.catchTag("DeviceError", (e) => (flags.device === "auto" ? onCpu : Effect.fail(new ModelError({ message: `device webgpu: ${e.message}` }))))
            )
      ).pipe(Effect.ensuring(Effect.sync(progress.close)))
      process.stdout.write(`${JSON.stringify(summary)}\n`)
    })
).pipe(Command.withDescription("arithmetic-code token sequences under a checkpoint (exactly decodable with decompress)"))

export const decompressCommand = Command.make(
  "decompress",
  {
    model: Flag.String("model").pipe(Flag.withDescription("the checkpoint the file was compressed with (its weights' hash is checked)")),
    input: Flag.String("in").pipe(Flag.withDescription("compressed file written by memorize compress")),
    out: Flag.String("out").pipe(Flag.withDescription("JSONL file to write (default: stdout)"), Flag.optional)
  },
  (flags) =>
    Effect.gen(function* () {
      const progress = stderrProgress({ what: "decompress", unit: "sequences", rateUnit: "seq/s" })
      const { backend } = yield* readCompressedHeader(flags.input)
      const run = decompressFile({ model: flags.model, input: flags.input, onProgress: progress.update })
      const { sequences, header } = yield* (
        backend === "cpu"
          ? run
          : run.pipe(
              Effect.provide(WebGpu.layer),
              Effect.catchTag("DeviceError", (e) =>
                Effect.fail(
                  new ModelError({
                    message: `${flags.input} was compressed on webgpu and decodes only there (other backends compute other floats): ${e.message}`,
                    file: flags.input
                  })
                )
              )
            )
      ).pipe(Effect.ensuring(Effect.sync(progress.close)))
      const text = jsonl(sequences)
      if (Option.isSome(flags.out)) {
        yield* writeFileAtomic(nodePath.resolve(flags.out.value), text)
        process.stderr.write(`wrote ${header.count} sequences to ${flags.out.value} (tokens checked against the original hash)\n`)
      } else {
        yield* Effect.promise(() => new Promise<void>((resolve) => (process.stdout.write(text) ? resolve() : process.stdout.once("drain", () => resolve()))))
      }
    })
).pipe(Command.withDescription("decode a file written by compress back into the original token sequences"))
