/**
 * The data that flows between plugins: token sequences, datasets, trained
 * models and results. Core knows no concrete plugin; these shapes are the
 * whole contract between dataset, trainer, metric and law plugins.
 */
import type { Effect, Scope } from "effect"
import type { DatasetError, DeviceError, MetricError, ModelError, TrainError, LawError } from "./errors.ts"

/** `count` sequences of exactly `seqLen` tokens, row-major, ids in [0, vocabSize). */
export interface TokenSequences {
  readonly vocabSize: number
  readonly seqLen: number
  readonly count: number
  readonly tokens: Uint32Array
}

/** Turns text into token ids and back. Small on purpose, so a plugin can add one. */
export interface Tokenizer {
  readonly name: string
  readonly vocabSize: number
  readonly encode: (text: string) => ReadonlyArray<number>
  readonly decode: (tokens: ArrayLike<number>) => string
}

/** What a dataset plugin produces: members (train) and non-members (holdout). */
export interface Dataset {
  /** The dataset plugin's name (`kind:` in the spec). */
  readonly kind: string
  readonly vocabSize: number
  readonly seqLen: number
  readonly train: TokenSequences
  readonly holdout: TokenSequences
  /**
   * Exact entropy H(x) in bits of every sequence, when the data-generating
   * process is known (synthetic uniform: S·log2 V). Metrics never re-derive it.
   */
  readonly entropyBitsPerSequence?: number
  /** Hash of the token content (train and holdout), recorded in provenance. */
  readonly fingerprint: string
  /** Present for text datasets: decodes sequences for reports. */
  readonly tokenizer?: Tokenizer
  /** Per-sample rarity (TF-IDF) when requested. */
  readonly rarity?: { readonly train: Float64Array; readonly holdout: Float64Array }
  /** Facts worth recording: duplicates dropped, documents read, ... */
  readonly stats: Readonly<Record<string, number | string | boolean>>
}

/** Where a plugin runs: the spec's folder (for relative paths), caches, seed. */
export interface RunContext {
  readonly seed: number
  /** Folder of the spec file: relative paths in a spec resolve against it. */
  readonly specDir: string
  /** This run's folder in the run store (artifacts go here). */
  readonly runDir: string
  /** Shared cache folder (tokenized corpora, autotune results...). */
  readonly cacheDir: string
}

/** One training progress report, for the CLI's bars and train-log.jsonl. */
export interface ProgressEvent {
  readonly step: number
  readonly maxSteps: number
  readonly loss: number
  readonly lr: number
  readonly tokensPerSecond: number
  readonly elapsedMs: number
}

/** A model's shape as the model plugin resolved it against the data. */
export interface ModelDescription {
  readonly kind: string
  readonly vocabSize: number
  readonly seqLen: number
  readonly paramCount: number
  /** Plugin-specific fields (layers, dModel, heads, ...), JSON-serialisable. */
  readonly config: Readonly<Record<string, unknown>>
}

/** How training ended. */
export interface TrainSummary {
  readonly steps: number
  readonly finalLoss: number
  readonly stopReason: "maxSteps" | "plateau" | "targetLoss" | "loaded"
  readonly wallMs: number
  readonly tokensPerSecond: number
}

/**
 * A trained (or imported) model, seen by metrics only through this interface.
 * Code lengths are in bits. Without a BOS token the first token of a sequence
 * cannot be predicted and is counted at log2 V bits (uniform).
 */
export interface TrainedModel {
  readonly description: ModelDescription
  readonly paramCount: number
  readonly precision: string
  readonly vocabSize: number
  readonly seqLen: number
  readonly train?: TrainSummary
  /** Facts about where the model ran (GPU adapter, kernels chosen...), recorded in provenance. */
  readonly provenance?: { readonly [k: string]: Json }
  /** Per-sequence code length L(x|θ) = -Σ_t log2 p(x_t | x_<t), bits. */
  readonly codeLengths: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  /** log2 p(x_t | x_<t) for every token, row-major count × seqLen. */
  readonly tokenLogProbs: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  /**
   * Logits of the next token at data position `position` (0 ≤ position < seqLen)
   * of every sequence: count × vocabSize (the data's vocabulary), float32 as the
   * model computed them. Computed over full-length sequences with causal
   * masking, so the result is bit for bit independent of the tokens at and after
   * `position` for the same `seqs.count` (same batch layout): a decoder that
   * knows only prefixes gets the floats an encoder that knows everything got.
   * Without BOS, position 0 has no prediction and its logits are all 0
   * (uniform). Optional: arithmetic coding (compression) needs it or
   * `nextTokenStepper`.
   */
  readonly nextTokenLogits?: (seqs: TokenSequences, position: number) => Effect.Effect<Float32Array, ModelError>
  /**
   * The same logits one position at a time for a fixed batch (arithmetic
   * coding walks positions in order): a model with an incremental pass
   * (cached keys and values) computes each position at the cost of one row per
   * sequence instead of a full pass. Its floats may differ from
   * `nextTokenLogits`' in the last bits (other summation orders), but for the
   * same shape and the same tokens fed they are the same every time, which is
   * all an encoder and a decoder that both step need. Optional: without it a
   * coder steps through `nextTokenLogits` (`nextTokenStepperOf`).
   */
  readonly nextTokenStepper?: (shape: StepperShape) => Effect.Effect<NextTokenStepper, ModelError>
  /** Greedy continuation of each prefix by `length` tokens (count × length). */
  readonly generate: (prefixes: TokenSequences, length: number) => Effect.Effect<Uint32Array, ModelError>
  /** Writes the model into a folder, in the trainer's format (one its `TrainerPlugin.reload` reads back). */
  readonly save: (dir: string) => Effect.Effect<void, ModelError>
}

/** A batch of `count` sequences of `seqLen` tokens over `vocabSize` ids, stepped through position by position. */
export interface StepperShape {
  readonly count: number
  readonly seqLen: number
  readonly vocabSize: number
}

/** Next-token logits of a fixed batch of sequences, position after position (`TrainedModel.nextTokenStepper`). */
export interface NextTokenStepper {
  /**
   * Logits of the token at data position `position` of every sequence
   * (count × vocabSize, float32), given `previous`: each sequence's token at
   * `position − 1` (count ids; unused at position 0). Positions come in
   * order 0, 1, …, seqLen − 1; without BOS position 0 gives zeros (uniform).
   * The array may be overwritten by the next call: copy what you keep.
   */
  readonly next: (position: number, previous: Uint32Array) => Effect.Effect<Float32Array, ModelError>
  /**
   * Optional: `logits` (count × vocabSize, as `next` returns them) turned into
   * arithmetic-coding frequencies summing to 2^freqBits, equal bit for bit to
   * the definition (`makeQuantizer`, quantize.ts) row by row, only faster (the
   * CPU backend's native loops). Without it a coder runs the definition. The
   * arrays may be overwritten by the next call.
   */
  readonly quantize?: (logits: Float32Array, freqBits: number) => QuantizedRows
}

/** A step's rows of logits quantized (`NextTokenStepper.quantize`). */
export interface QuantizedRows {
  /** rows × (V + 1) cumulative frequencies: row i's symbol s occupies [cum[i(V+1)+s], cum[i(V+1)+s+1]) of [0, 2^freqBits). */
  readonly cum: Int32Array
  /** rows × 2: each row's maximum logit m and Z = Σ 2^((l − m)·log2 e) (`logitBitsOf`). */
  readonly stats: Float64Array
  /** −1, or the first row the definition refuses (NaN, +∞): its entries are unspecified; the caller names the error by running the definition on it. */
  readonly refused: number
}

/** JSON values, as stored in result.json. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [k: string]: Json }

/** A metric plugin's output for one run: JSON, written into result.json. */
export type MetricValues = { readonly [k: string]: Json }

/** Everything stored about one completed run (result.json). */
export interface RunResult {
  readonly runId: string
  readonly experiment: string
  /** The fully resolved config of this run (spec after sweep and overrides). */
  readonly config: { readonly [k: string]: Json }
  readonly model: {
    readonly kind: string
    readonly paramCount: number
    readonly vocabSize: number
    readonly seqLen: number
    readonly precision: string
    readonly config: { readonly [k: string]: Json }
  }
  readonly dataset: {
    readonly kind: string
    readonly trainCount: number
    readonly holdoutCount: number
    readonly vocabSize: number
    readonly seqLen: number
    readonly entropyBitsPerSequence: number | null
    readonly fingerprint: string
    readonly stats: { readonly [k: string]: Json }
  }
  readonly train: {
    readonly steps: number
    readonly finalLoss: number
    readonly stopReason: string
    readonly wallMs: number
    readonly tokensPerSecond: number
  } | null
  /** metric name → that metric's values. */
  readonly metrics: { readonly [metric: string]: MetricValues }
  readonly provenance: { readonly [k: string]: Json }
}

/** A law plugin's output over all runs of an experiment (laws.json). */
export type LawFit = { readonly [k: string]: Json }

/** What a metric sees. `reference` is the reference model θ when the spec has one. */
export interface MetricSubject {
  readonly model: TrainedModel
  readonly dataset: Dataset
  readonly reference?: TrainedModel
  readonly context: RunContext
}

/** What a trainer gets: the model plugin's description, the data, where to report. */
export interface TrainInput {
  readonly model: ModelDescription
  readonly dataset: Dataset
  readonly context: RunContext
  readonly onProgress: (event: ProgressEvent) => Effect.Effect<void>
}

/** Implementations, per plugin kind (each made from the plugin's decoded config). */
export type DatasetImpl = (context: RunContext) => Effect.Effect<Dataset, DatasetError, Scope.Scope>
/** Resolves the model's shape against the data (vocab, seqLen come from the dataset). */
export type ModelImpl = (data: { readonly vocabSize: number; readonly seqLen: number }) => ModelDescription
/** Trains (or loads) a model; GPU buffers live in the scope. May need the plugin's own services. */
export type TrainerImpl = (input: TrainInput) => Effect.Effect<TrainedModel, TrainError | ModelError | DeviceError, Scope.Scope | any>
export type MetricImpl<O = MetricValues> = (subject: MetricSubject) => Effect.Effect<O, MetricError | ModelError>
export type LawImpl<F = LawFit> = (results: ReadonlyArray<RunResult>) => Effect.Effect<F, LawError>
