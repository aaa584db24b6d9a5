/**
 * The `checkpoint` trainer: instead of training, loads a Hugging Face GPT-2
 * checkpoint (ours or any GPT2LMHeadModel's) onto a backend (`device`: the
 * GPU, the native CPU, or auto), so imported models (a reference θ, a model
 * trained elsewhere) are measured exactly like trained ones.
 *
 *   train: { kind: checkpoint, path: ../runs/x/abc123, precision: fp32 }
 *
 * `path` is a folder with config.json + model.safetensors (or a sharded
 * index), or the .safetensors / .index.json file; relative paths resolve
 * against the spec's folder. The checkpoint must fit the dataset: its
 * vocabulary is the dataset's (one more with `bos`, the BOS id being V) and
 * its n_positions covers the positions the model reads: S, or S + 1 with
 * `bos` ([BOS, x_0 … x_{S−1}], the GPU model's convention). A longer position
 * table (GPT-2's 1024 for 64-token data) is cut to the rows used before it
 * goes to the GPU: causal attention never reads a position past the
 * sequence, so the results are identical and less memory is held.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { definePlugin, type Dataset, ModelError, PositiveInt, type Problem, type TrainedModel, type TrainInput, withDefault } from "@memorize/core"
import { WebGpu } from "../device/webgpu.ts"
import { devices, openGpt2 } from "../model/open.ts"
import { gpt2ParamCount, type Gpt2Shape, type Gpt2Weights } from "../model/weights.ts"
import { loadCheckpoint, saveCheckpoint } from "./index.ts"

export const CheckpointTrainerConfig = Schema.Struct({
  path: Schema.String.annotate({
    description:
      "a Hugging Face GPT-2 checkpoint: folder with config.json + model.safetensors (or a sharded index), or the file itself; relative to the spec's folder"
  }),
  precision: withDefault(
    Schema.Literals(["fp32", "bf16", "bf16-params", "fp16"]).annotate({ description: "precision the model is evaluated in, as the trainers' precision" }),
    "fp32"
  ),
  bos: withDefault(Schema.Boolean.annotate({ description: "the checkpoint was trained with a BOS token (id V, vocabulary V + 1)" }), false),
  lossSample: withDefault(PositiveInt.annotate({ description: "training sequences (the first N) the reported training loss is measured on" }), 256),
  device: withDefault(
    Schema.Literals(devices).annotate({ description: "where to evaluate: cpu (native), webgpu, or auto (WebGPU on a real GPU, else the native CPU)" }),
    "auto"
  )
})
export type CheckpointTrainerConfig = typeof CheckpointTrainerConfig.Type

/** Why a checkpoint of this shape cannot evaluate this dataset, or undefined when it can. */
export const checkpointFit = (shape: Gpt2Shape, data: Pick<Dataset, "vocabSize" | "seqLen" | "kind">, bos: boolean, file: string): ModelError | undefined => {
  const wantVocab = data.vocabSize + (bos ? 1 : 0)
  if (shape.vocabSize !== wantVocab) {
    return new ModelError({
      file,
      tensor: "transformer.wte.weight",
      message: `checkpoint vocab_size ${shape.vocabSize} does not fit dataset "${data.kind}": its vocabulary is ${data.vocabSize}${bos ? " (+1 for BOS)" : ""}, so the model needs ${wantVocab}`
    })
  }
  const wantPositions = data.seqLen + (bos ? 1 : 0)
  if (shape.nPositions < wantPositions) {
    return new ModelError({
      file,
      tensor: "transformer.wpe.weight",
      message: `checkpoint n_positions ${shape.nPositions} does not fit dataset "${data.kind}": its sequences have ${data.seqLen} tokens${bos ? " (+1 position for BOS)" : ""}, so the model needs n_positions ≥ ${wantPositions}`
    })
  }
  return undefined
}

/** Mean next-token cross-entropy (nats) from code lengths, undoing the first token's log2 V bits when there is no BOS. */
const meanLossNats = (bits: Float64Array, seqLen: number, vocab: number, bos: boolean): number => {
  const predicted = bos ? seqLen : seqLen - 1
  if (bits.length === 0 || predicted === 0) return Number.NaN
  let sum = 0
  for (const b of bits) sum += b - (bos ? 0 : Math.log2(vocab))
  return (sum * Math.LN2) / (bits.length * predicted)
}

/** The same model with only the first `n` rows of its position table (causal attention never reads past the sequence). */
export const firstPositions = (weights: Gpt2Weights, n: number): Gpt2Weights => {
  if (weights.shape.nPositions === n) return weights
  const d = weights.shape.dModel
  const wpe = weights.tensors.get("wpe.weight")!
  const tensors = new Map(weights.tensors)
  tensors.set("wpe.weight", { shape: [n, d], data: wpe.data.subarray(0, n * d) })
  return { shape: { ...weights.shape, nPositions: n }, tensors }
}

const load = (config: CheckpointTrainerConfig) => (input: TrainInput) =>
  Effect.gen(function* () {
    const started = Date.now()
    const file = nodePath.resolve(input.context.specDir, config.path)
    const weights: Gpt2Weights = yield* loadCheckpoint(file)
    const misfit = checkpointFit(weights.shape, input.dataset, config.bos, file)
    if (misfit !== undefined) return yield* Effect.fail(misfit)
    const gpu = yield* openGpt2(firstPositions(weights, input.dataset.seqLen + (config.bos ? 1 : 0)), {
      precision: config.precision,
      bos: config.bos,
      device: config.device
    }).pipe(Effect.mapError((e) => (e._tag === "DeviceError" ? new ModelError({ message: `cannot load the checkpoint onto the GPU: ${e.message}`, file }) : e)))
    const { shape } = weights
    const vocabSize = input.dataset.vocabSize
    const seqLen = input.dataset.seqLen
    // The checkpoint's own count (all n_positions rows), not the cut table's.
    const paramCount = gpt2ParamCount(shape)
    const train = input.dataset.train
    const sampleCount = Math.min(config.lossSample, train.count)
    const sample = { ...train, count: sampleCount, tokens: train.tokens.subarray(0, sampleCount * train.seqLen) }
    const finalLoss = sampleCount === 0 ? Number.NaN : meanLossNats(yield* gpu.codeLengths(sample), train.seqLen, vocabSize, config.bos)
    const description = {
      kind: "gpt2",
      vocabSize,
      seqLen,
      paramCount,
      config: {
        checkpoint: file,
        layers: shape.layers,
        dModel: shape.dModel,
        heads: shape.heads,
        nPositions: shape.nPositions,
        activation: shape.activation,
        tiedHead: shape.tiedHead,
        layerNormEps: shape.layerNormEps,
        bos: config.bos
      }
    }
    return {
      description,
      paramCount,
      precision: config.precision,
      vocabSize,
      seqLen,
      train: { steps: 0, finalLoss, stopReason: "loaded", wallMs: Date.now() - started, tokensPerSecond: 0 },
      provenance: { backend: gpu.device },
      codeLengths: gpu.codeLengths,
      tokenLogProbs: gpu.tokenLogProbs,
      nextTokenLogits: gpu.nextTokenLogits,
      nextTokenStepper: gpu.nextTokenStepper,
      generate: gpu.generate,
      // The host copy is the checkpoint itself: saving it needs no GPU round trip and loses nothing to precision.
      save: (dir: string) => saveCheckpoint(dir, weights)
    } satisfies TrainedModel
  })

/** The checkpoint must exist when the spec is validated (a folder, or the .safetensors / index file). */
const pathCheck = (config: CheckpointTrainerConfig, specDir: string): Effect.Effect<ReadonlyArray<Problem>> =>
  Effect.sync(() => {
    const file = nodePath.resolve(specDir, config.path)
    if (!fs.existsSync(file)) return [{ path: ["path"], message: `no checkpoint at ${file}` }]
    if (fs.statSync(file).isDirectory() && !["model.safetensors", "model.safetensors.index.json"].some((f) => fs.existsSync(nodePath.join(file, f))))
      return [{ path: ["path"], message: `${file} holds neither model.safetensors nor model.safetensors.index.json` }]
    return []
  })

export const checkpointTrainer = definePlugin({
  kind: "trainer",
  name: "checkpoint",
  description: "Loads a Hugging Face GPT-2 checkpoint (safetensors + config.json) instead of training",
  config: CheckpointTrainerConfig,
  check: (config, { specDir }) => pathCheck(config, specDir),
  layer: WebGpu.layer,
  make: load
})
