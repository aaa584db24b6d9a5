/**
 * `memorize eval`: audit an existing model. Loads a Hugging Face GPT-2
 * checkpoint (any dtype, sharded or not), evaluates token sequences from JSONL
 * files on the WebGPU adapter and prints one JSON line per sequence
 *
 *   {"index": i, "bits": L(x_i|θ̂)}                      (+ "tokenBits" with --per-token)
 *
 * then a summary object (total / mean bits and quantiles; unintended
 * memorization max(0, L(x|θ_ref) − L(x|θ̂)) when --reference is given; the
 * loss-threshold membership-inference metrics when --nonmembers is given).
 * With --out DIR the lines go to DIR/bits.jsonl and the summary to
 * DIR/summary.json (each written atomically); progress goes to stderr.
 *
 * Code lengths follow the project's convention: the first token is counted
 * at log2 V bits (no BOS), every later one at −log2 p(x_t | x_<t).
 *
 * Token files: one sequence a line, an array of ids (`[1, 2, 3]`) or an
 * object with a `tokens` field; lengths may differ (1 … n_positions). Lines
 * of one length are evaluated together as a batch (the GPU model's plans are
 * per length); a model with the position table cut to that length is built
 * per length and released after it, so GPU memory does not grow with the
 * number of distinct lengths. Ids outside the vocabulary, sequences longer
 * than n_positions, empty sequences and malformed lines are errors naming
 * file:line.
 */
import { DatasetError, ModelError } from "@memorize/core"
import { readLines, SourceFailure, toDatasetError } from "@memorize/datasets"
import { firstPositions, type Precision, WebGpu } from "@memorize/gpu-webgpu"
import { membershipAttack, type MembershipStats, summarizeBits, unintendedMemorization } from "@memorize/metrics"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { loadCheckpoint } from "../packages/gpu-webgpu/src/checkpoint/index.ts"
import { type Device, devices, openGpt2 } from "../packages/gpu-webgpu/src/model/open.ts"
import { gpt2ParamCount, type Gpt2Weights } from "../packages/gpu-webgpu/src/model/weights.ts"

export interface EvalOptions {
  /** Checkpoint folder, .safetensors or .safetensors.index.json. */
  readonly model: string
  /** JSONL file of the sequences to measure (the members, when non-members are given). */
  readonly tokens: string
  readonly nonmembers?: string
  /** Reference checkpoint θ_ref for unintended memorization. */
  readonly reference?: string
  readonly perToken?: boolean
  readonly precision?: Precision
  /** Backend: cpu (native), webgpu, or auto (WebGPU on a real GPU, else the native CPU backend). */
  readonly device?: Device
  /** The checkpoints were trained with a BOS token (id V − 1 of the model, data vocabulary V − 1). */
  readonly bos?: boolean
  /** Sequences per GPU call (progress granularity); the model batches within it. */
  readonly chunk?: number
  /** Seed of the balanced member/non-member split of the membership attack. */
  readonly seed?: number
  readonly onProgress?: (done: number, total: number) => void
}

/** One file's sequences, in file order, with the line each came from. */
export interface TokenFile {
  readonly file: string
  readonly sequences: ReadonlyArray<Uint32Array>
  readonly lines: ReadonlyArray<number>
}

export interface EvalSet {
  readonly file: string
  readonly lengths: Uint32Array
  /** Code length of each sequence, bits. */
  readonly bits: Float64Array
  /** −log2 p of each token (first token: log2 V), one array per sequence. */
  readonly tokenBits: ReadonlyArray<Float64Array>
  readonly referenceBits?: Float64Array
}

export interface EvalResult {
  readonly members: EvalSet
  readonly nonmembers?: EvalSet
  readonly summary: Record<string, unknown>
}

interface Limits {
  readonly vocab: number
  readonly maxLen: number
  readonly maxLenWhy: string
}

const DATASET = "tokens"
const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v)

/** Reads a JSONL token file of sequences of 1 … limits.maxLen ids in [0, vocab), naming file:line for any bad line. */
export const readEvalTokens = (file: string, limits: Limits): Effect.Effect<TokenFile, DatasetError> =>
  Effect.tryPromise({
    try: async () => {
      const sequences: Array<Uint32Array> = []
      const lines: Array<number> = []
      for await (const { line, number } of readLines(file)) {
        if (line.trim() === "") continue
        const where = `${file}:${number}`
        let row: unknown
        try {
          row = JSON.parse(line)
        } catch (e) {
          throw new SourceFailure(file, `${where}: not valid JSON (${(e as Error).message}): ${line.slice(0, 80)}`)
        }
        const ids: unknown = Array.isArray(row) ? row : typeof row === "object" && row !== null && "tokens" in row ? (row as { tokens: unknown }).tokens : undefined
        if (ids === undefined) throw new SourceFailure(file, `${where}: expected an array of token ids or an object with a "tokens" field, found ${describe(row)}`)
        if (!Array.isArray(ids)) throw new SourceFailure(file, `${where}: "tokens" is ${describe(ids)}, expected an array of token ids`)
        if (ids.length === 0) throw new SourceFailure(file, `${where}: empty sequence (at least 1 token is needed)`)
        if (ids.length > limits.maxLen) throw new SourceFailure(file, `${where}: ${ids.length} tokens, more than ${limits.maxLenWhy}`)
        const seq = new Uint32Array(ids.length)
        for (let i = 0; i < ids.length; i++) {
          const t: unknown = ids[i]
          if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= limits.vocab) {
            throw new SourceFailure(file, `${where}: token ${i} is ${JSON.stringify(t)}, expected an integer id in [0, ${limits.vocab}) (the model's vocabulary)`)
          }
          seq[i] = t
        }
        sequences.push(seq)
        lines.push(number)
      }
      if (sequences.length === 0) throw new SourceFailure(file, `${file}: no sequences (every line is blank)`)
      return { file, sequences, lines }
    },
    catch: toDatasetError(DATASET)
  })

/**
 * log2 p of every token of every sequence under `weights` (first token:
 * −log2 V without BOS), grouped by length: one GPU model per length, with
 * its position table cut to that length, released before the next.
 */
const tokenLogProbs = (
  weights: Gpt2Weights,
  file: string,
  sequences: ReadonlyArray<Uint32Array>,
  options: { readonly precision: Precision; readonly bos: boolean; readonly device: Device; readonly dataVocab: number; readonly chunk: number; readonly step: (n: number) => void }
) =>
  Effect.gen(function*() {
    const out: Array<Float64Array> = new Array(sequences.length)
    const byLength = new Map<number, Array<number>>()
    sequences.forEach((s, i) => {
      const group = byLength.get(s.length)
      if (group) group.push(i)
      else byLength.set(s.length, [i])
    })
    const lead = options.bos ? 1 : 0
    for (const L of [...byLength.keys()].sort((a, b) => a - b)) {
      const rows = byLength.get(L)!
      yield* Effect.scoped(Effect.gen(function*() {
        const gpu = yield* openGpt2(firstPositions(weights, L + lead), { precision: options.precision, bos: options.bos, device: options.device }).pipe(
          Effect.mapError((e) => (e._tag === "DeviceError" ? new ModelError({ message: `cannot load the checkpoint onto the GPU: ${e.message}`, file }) : e))
        )
        for (let start = 0; start < rows.length; start += options.chunk) {
          const part = rows.slice(start, start + options.chunk)
          const tokens = new Uint32Array(part.length * L)
          part.forEach((r, k) => tokens.set(sequences[r], k * L))
          const lp = yield* gpu.tokenLogProbs({ vocabSize: options.dataVocab, seqLen: L, count: part.length, tokens }).pipe(
            Effect.mapError((e) => new ModelError({ message: e.message, file, ...(e.tensor !== undefined ? { tensor: e.tensor } : {}) }))
          )
          part.forEach((r, k) => {
            out[r] = lp.slice(k * L, (k + 1) * L)
          })
          options.step(part.length)
        }
      }))
    }
    return out
  })

const codeLength = (lp: Float64Array): number => {
  let s = 0
  for (let t = 0; t < lp.length; t++) s -= lp[t]
  return s
}

const describeModel = (path: string, w: Gpt2Weights) => ({
  path,
  vocabSize: w.shape.vocabSize,
  nPositions: w.shape.seqLen,
  layers: w.shape.layers,
  dModel: w.shape.dModel,
  heads: w.shape.heads,
  activation: w.shape.activation,
  tiedHead: w.shape.tiedHead,
  paramCount: gpt2ParamCount(w.shape)
})

const setSummary = (set: EvalSet) => {
  let tokens = 0
  for (const l of set.lengths) tokens += l
  const s = summarizeBits(set.bits)
  return { file: set.file, ...s, tokens, bitsPerToken: s.totalBits / tokens }
}

/** Checkpoints loaded and token files read and checked: everything that needs no GPU. */
export interface PreparedEval {
  readonly modelPath: string
  readonly model: Gpt2Weights
  readonly refPath?: string
  readonly reference?: Gpt2Weights
  readonly dataVocab: number
  readonly members: TokenFile
  readonly nonmembers?: TokenFile
}

/**
 * Refuses a checkpoint with a NaN or ±Inf weight, naming the tensor and the
 * element: evaluating it would print `"bits": null` everywhere and exit 0.
 */
const requireFiniteWeights = (weights: Gpt2Weights, file: string): Effect.Effect<void, ModelError> => {
  for (const [name, tensor] of weights.tensors) {
    const data = tensor.data
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        return Effect.fail(new ModelError({ message: `tensor ${name} holds ${data[i]} at element ${i}: a checkpoint with non-finite weights cannot be evaluated`, file, tensor: name }))
      }
    }
  }
  return Effect.void
}

/** Loads the checkpoints and reads the token files, failing on the first bad input (before any GPU work). */
export const prepareEval = (options: EvalOptions): Effect.Effect<PreparedEval, ModelError | DatasetError> =>
  Effect.gen(function*() {
    const lead = options.bos ? 1 : 0
    const modelPath = nodePath.resolve(options.model)
    const model = yield* loadCheckpoint(modelPath)
    yield* requireFiniteWeights(model, modelPath)
    const refPath = options.reference === undefined ? undefined : nodePath.resolve(options.reference)
    const reference = refPath === undefined ? undefined : yield* loadCheckpoint(refPath)
    if (reference !== undefined) yield* requireFiniteWeights(reference, refPath!)
    const dataVocab = model.shape.vocabSize - lead
    if (dataVocab < 2) {
      return yield* new ModelError({ message: `vocab_size ${model.shape.vocabSize} leaves ${dataVocab} data tokens${lead ? " after BOS" : ""}; at least 2 are needed`, file: modelPath })
    }
    if (reference !== undefined && reference.shape.vocabSize !== model.shape.vocabSize) {
      return yield* new ModelError({
        message: `the reference's vocab_size ${reference.shape.vocabSize} differs from the model's ${model.shape.vocabSize}: code lengths over different vocabularies are not comparable`,
        file: refPath!,
        tensor: "transformer.wte.weight"
      })
    }
    const bosNote = lead ? " (one position goes to BOS)" : ""
    const limits: Limits = reference !== undefined && reference.shape.seqLen < model.shape.seqLen
      ? { vocab: dataVocab, maxLen: reference.shape.seqLen - lead, maxLenWhy: `the reference model's n_positions = ${reference.shape.seqLen}${bosNote}` }
      : { vocab: dataVocab, maxLen: model.shape.seqLen - lead, maxLenWhy: `the model's n_positions = ${model.shape.seqLen}${bosNote}` }
    const members = yield* readEvalTokens(nodePath.resolve(options.tokens), limits)
    const nonmembers = options.nonmembers === undefined ? undefined : yield* readEvalTokens(nodePath.resolve(options.nonmembers), limits)
    return {
      modelPath,
      model,
      ...(refPath !== undefined && reference !== undefined ? { refPath, reference } : {}),
      dataVocab,
      members,
      ...(nonmembers !== undefined ? { nonmembers } : {})
    }
  })

/** Evaluates prepared inputs on the GPU: code lengths, memorization, membership inference. */
export const runEval = (prepared: PreparedEval, options: EvalOptions): Effect.Effect<EvalResult, ModelError, WebGpu> =>
  Effect.gen(function*() {
    const precision = options.precision ?? "fp32"
    const bos = options.bos ?? false
    const chunk = options.chunk ?? 256
    const { modelPath, model, refPath, reference, dataVocab, members, nonmembers } = prepared
    const all = [...members.sequences, ...(nonmembers?.sequences ?? [])]
    const total = all.length * (reference === undefined ? 1 : 2)
    let done = 0
    const step = (n: number) => {
      done += n
      options.onProgress?.(done, total)
    }
    const common = { precision, bos, device: options.device ?? "auto", dataVocab, chunk, step }
    const lp = yield* tokenLogProbs(model, modelPath, all, common)
    const refLp = reference === undefined ? undefined : yield* tokenLogProbs(reference, refPath!, all, common)

    const makeSet = (f: TokenFile, from: number): EvalSet => {
      const n = f.sequences.length
      const mine = lp.slice(from, from + n)
      return {
        file: f.file,
        lengths: Uint32Array.from(f.sequences, (s) => s.length),
        bits: Float64Array.from(mine, codeLength),
        tokenBits: mine.map((x) => x.map((v) => -v)),
        ...(refLp !== undefined ? { referenceBits: Float64Array.from(refLp.slice(from, from + n), codeLength) } : {})
      }
    }
    // Finite weights can still overflow; a non-finite result is an error, never a null in the output.
    for (const [i, x] of lp.entries()) {
      if (!x.every(Number.isFinite)) return yield* new ModelError({ message: `the model gives a non-finite log-probability for sequence ${i}`, file: modelPath })
    }
    const memberSet = makeSet(members, 0)
    const nonmemberSet = nonmembers === undefined ? undefined : makeSet(nonmembers, members.sequences.length)

    const memorizationOf = (set: EvalSet) => {
      const unintended = unintendedMemorization(set.referenceBits!, set.bits)
      return { ...summarizeBits(unintended), codeLength: summarizeBits(set.bits), referenceCodeLength: summarizeBits(set.referenceBits!) }
    }
    const seed = options.seed ?? 0
    const membership: (MembershipStats & { seed: number; calibrationFraction: number }) | null = nonmemberSet === undefined
      ? null
      : { ...membershipAttack(memberSet.bits, nonmemberSet.bits, seed, 0.5), seed, calibrationFraction: 0.5 }
    const summary = {
      model: describeModel(modelPath, model),
      precision,
      bos,
      ...setSummary(memberSet),
      nonmembers: nonmemberSet === undefined ? null : setSummary(nonmemberSet),
      memorization: reference === undefined
        ? null
        : {
          estimate: "reference",
          reference: describeModel(refPath!, reference),
          ...memorizationOf(memberSet),
          holdout: nonmemberSet === undefined ? null : memorizationOf(nonmemberSet)
        },
      membership
    }
    return { members: memberSet, ...(nonmemberSet !== undefined ? { nonmembers: nonmemberSet } : {}), summary }
  })

/** prepareEval, then runEval. */
export const evaluate = (options: EvalOptions): Effect.Effect<EvalResult, ModelError | DatasetError, WebGpu> =>
  Effect.flatMap(prepareEval(options), (prepared) => runEval(prepared, options))

/** The per-sequence JSON lines: members, then non-members (tagged "set" when there are any). */
export function* bitsLines(result: EvalResult, perToken: boolean): Generator<string> {
  const tagged = result.nonmembers !== undefined
  for (const [name, set] of [["members", result.members], ["nonmembers", result.nonmembers]] as const) {
    if (set === undefined) continue
    for (let i = 0; i < set.bits.length; i++) {
      const line: Record<string, unknown> = { index: i }
      if (tagged) line.set = name
      line.bits = set.bits[i]
      if (set.referenceBits !== undefined) {
        line.referenceBits = set.referenceBits[i]
        line.memorizedBits = Math.max(0, set.referenceBits[i] - set.bits[i])
      }
      if (perToken) line.tokenBits = Array.from(set.tokenBits[i])
      yield JSON.stringify(line)
    }
  }
}

const ioError = (file: string) => (e: unknown) => new ModelError({ message: `cannot write: ${e instanceof Error ? e.message : String(e)}`, file })

/** Writes `file` through a temporary file in its folder, renamed over it once complete. */
const writeAtomic = (file: string, chunks: Iterable<string>) =>
  Effect.tryPromise({
    try: async () => {
      const tmp = `${file}.tmp-${process.pid}-${Date.now()}`
      const handle = await fs.open(tmp, "w")
      try {
        let buffer = ""
        for (const c of chunks) {
          buffer += c
          if (buffer.length > 1 << 20) {
            await handle.write(buffer)
            buffer = ""
          }
        }
        await handle.write(buffer)
        await handle.sync()
      } catch (e) {
        await handle.close().catch(() => undefined)
        await fs.rm(tmp, { force: true })
        throw e
      }
      await handle.close()
      await fs.rename(tmp, file)
    },
    catch: ioError(file)
  })

const withNewlines = function*(lines: Iterable<string>) {
  for (const l of lines) yield `${l}\n`
}

/** Writes bits.jsonl and summary.json under `dir` (created if needed); returns their paths. */
export const writeEvalFiles = (result: EvalResult, dir: string, perToken: boolean) =>
  Effect.gen(function*() {
    const abs = nodePath.resolve(dir)
    yield* Effect.tryPromise({ try: () => fs.mkdir(abs, { recursive: true }), catch: ioError(abs) })
    const bits = nodePath.join(abs, "bits.jsonl")
    const summary = nodePath.join(abs, "summary.json")
    yield* writeAtomic(bits, withNewlines(bitsLines(result, perToken)))
    yield* writeAtomic(summary, [`${JSON.stringify(result.summary, null, 2)}\n`])
    return [bits, summary] as const
  })

const writeStdout = (text: string) =>
  Effect.promise(() => new Promise<void>((resolve) => {
    if (process.stdout.write(text)) resolve()
    else process.stdout.once("drain", () => resolve())
  }))

/** Progress on stderr: a bar redrawn in place on a TTY, a line every tenth elsewhere (long inputs only). */
export const stderrProgress = (stream: NodeJS.WriteStream = process.stderr) => {
  const started = Date.now()
  let lastDraw = 0
  let lastDecile = -1
  let drawn = false
  const rate = (done: number) => done / Math.max(1e-3, (Date.now() - started) / 1000)
  const text = (done: number, total: number) => {
    const r = rate(done)
    const eta = r > 0 ? Math.round((total - done) / r) : NaN
    return `eval ${done}/${total} sequences, ${r.toFixed(1)} seq/s${done < total && Number.isFinite(eta) ? `, ETA ${eta}s` : ""}`
  }
  return {
    update: (done: number, total: number) => {
      if (stream.isTTY) {
        const now = Date.now()
        if (now - lastDraw < 100 && done < total) return
        lastDraw = now
        const width = 24
        const filled = Math.round((done / Math.max(1, total)) * width)
        stream.write(`\r\x1b[2K${"█".repeat(filled)}${"░".repeat(width - filled)} ${text(done, total)}`)
        drawn = true
      } else if (total >= 1024) {
        const decile = Math.floor((10 * done) / total)
        if (decile > lastDecile) {
          lastDecile = decile
          stream.write(`${text(done, total)}\n`)
        }
      }
    },
    close: () => {
      if (drawn) stream.write("\r\x1b[2K")
      drawn = false
    }
  }
}

export const evalCommand = Command.make(
  "eval",
  {
    model: Flag.String("model").pipe(Flag.withDescription("checkpoint to audit: a folder with config.json + model.safetensors (or a sharded index), or the file")),
    tokens: Flag.String("tokens").pipe(Flag.withDescription("JSONL: one sequence a line, [ids...] or {\"tokens\": [ids...]}; lengths 1..n_positions")),
    nonmembers: Flag.String("nonmembers").pipe(Flag.withDescription("JSONL of sequences not trained on: adds the membership-inference metrics"), Flag.optional),
    reference: Flag.String("reference").pipe(Flag.withDescription("reference checkpoint θ_ref: adds unintended memorization max(0, L(x|θ_ref) − L(x|θ̂))"), Flag.optional),
    perToken: Flag.Boolean("per-token").pipe(Flag.withDescription("add each token's bits to the per-sequence lines"), Flag.withDefault(false)),
    out: Flag.String("out").pipe(Flag.withDescription("write bits.jsonl and summary.json into this folder instead of stdout"), Flag.optional),
    precision: Flag.Literals("precision", ["fp32", "bf16", "bf16-params", "fp16"]).pipe(Flag.withDescription("arithmetic (bf16: bfloat16 matmul operands)"), Flag.withDefault("fp32" as const)),
    device: Flag.Literals("device", devices).pipe(Flag.withDescription("cpu (native), webgpu, or auto: WebGPU on a real GPU, else the native CPU backend"), Flag.withDefault("auto" as Device)),
    bos: Flag.Boolean("bos").pipe(Flag.withDescription("the checkpoints were trained with a BOS token (the last id): every token is predicted"), Flag.withDefault(false))
  },
  (flags) =>
    Effect.gen(function*() {
      const progress = stderrProgress()
      const options: EvalOptions = {
        model: flags.model,
        tokens: flags.tokens,
        ...(Option.isSome(flags.nonmembers) ? { nonmembers: flags.nonmembers.value } : {}),
        ...(Option.isSome(flags.reference) ? { reference: flags.reference.value } : {}),
        perToken: flags.perToken,
        precision: flags.precision,
        device: flags.device,
        bos: flags.bos,
        onProgress: progress.update
      }
      // Bad inputs fail here, before the GPU is started.
      const prepared = yield* prepareEval(options)
      // The WebGPU device is started only when it may be used; `auto` without an adapter evaluates on the CPU.
      const onCpu = runEval(prepared, { ...options, device: "cpu" })
      const result = yield* (flags.device === "cpu"
        ? onCpu
        : runEval(prepared, options).pipe(
          Effect.provide(WebGpu.layer),
          Effect.catchTag("DeviceError", (e) => (flags.device === "auto" ? onCpu : Effect.fail(new ModelError({ message: `device webgpu: ${e.message}` }))))
        )).pipe(Effect.ensuring(Effect.sync(progress.close)))
      if (Option.isSome(flags.out)) {
        const paths = yield* writeEvalFiles(result, flags.out.value, flags.perToken)
        process.stderr.write(`wrote ${paths.join(", ")}\n`)
        return
      }
      let buffer = ""
      for (const line of bitsLines(result, flags.perToken)) {
        buffer += `${line}\n`
        if (buffer.length > 1 << 20) {
          yield* writeStdout(buffer)
          buffer = ""
        }
      }
      yield* writeStdout(`${buffer}${JSON.stringify(result.summary)}\n`)
    })
).pipe(Command.withDescription("audit an existing checkpoint: code length of each sequence, memorization against a reference, membership inference"))
