/**
 * The training settings every GPT-2 trainer shares (webgpu, cpu): one schema
 * for the fields, so both read a spec's `train:` section the same way, and
 * one place that turns a trainer's outcome and model into a TrainedModel.
 */
import { type Json, ModelError, NonNegativeInt, PositiveInt, PositiveNumber, type ReloadImpl, type TrainedModel, type TrainInput, TrainError, withDefault } from "@memorize/core"
import { Effect, Schema } from "effect"
import { saveCheckpoint } from "../checkpoint/index.ts"
import { checkpointTrainer } from "../checkpoint/plugin.ts"
import { type Precision, precisions } from "../kernels/common.ts"
import type { Device } from "../model/open.ts"
import type { Gpt2Model } from "../model/evaluation.ts"
import { Gpt2ModelConfig, gpt2ShapeFor } from "../model/plugin.ts"
import type { Gpt2Shape } from "../model/weights.ts"
import type { TrainOutcome } from "./loop.ts"

const Unit = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

export const trainFields = {
  /** fp32; bf16 (bf16 matmul operands, f32 accumulation and master weights); bf16-params (parameters stored in bf16); fp16. */
  precision: withDefault(Schema.Literals(precisions), "fp32"),
  batchSize: withDefault(PositiveInt, 64),
  lr: withDefault(PositiveNumber, 1e-3),
  beta1: withDefault(Unit, 0.9),
  beta2: withDefault(Unit, 0.999),
  eps: withDefault(PositiveNumber, 1e-8),
  weightDecay: withDefault(NonNegative, 0),
  warmupSteps: withDefault(NonNegativeInt, 0),
  schedule: withDefault(Schema.Literals(["constant", "cosine", "linear"]), "constant"),
  maxSteps: withDefault(PositiveInt, 1000),
  /** Global gradient-norm clip; 0 turns clipping off. */
  gradClip: withDefault(NonNegative, 1),
  stop: withDefault(
    Schema.Struct({
      plateau: Schema.optional(Schema.Struct({ window: PositiveInt, minDelta: NonNegative })),
      targetLoss: Schema.optional(NonNegative)
    }),
    {}
  ),
  /** Loss read-back and progress every this many steps. */
  logEvery: withDefault(PositiveInt, 10),
  /** Sequences per forward/backward pass; the batch is accumulated over passes. Default: as many as fit. */
  microBatch: Schema.optional(PositiveInt),
  /** Defaults to the run's seed. */
  seed: Schema.optional(Schema.Int)
}

const decodeModelConfig = Schema.decodeUnknownEffect(Gpt2ModelConfig)

/** The gpt2 model section of a run, as the trainers need it. */
export const gpt2Target = (input: TrainInput, trainer: string) =>
  Effect.gen(function* () {
    if (input.model.kind !== "gpt2")
      return yield* Effect.fail(new TrainError({ message: `the ${trainer} trainer trains "gpt2" models, not "${input.model.kind}"` }))
    const mc = yield* decodeModelConfig(input.model.config).pipe(
      Effect.mapError((e) => new TrainError({ message: `gpt2 model config: ${e.message}` }))
    )
    return { bos: mc.bos, shape: gpt2ShapeFor(mc, input.dataset) as Gpt2Shape }
  })

/** A trained GPT-2 as metrics see it. */
export const trainedModel = (
  input: TrainInput,
  model: Gpt2Model,
  outcome: TrainOutcome,
  provenance: { readonly [k: string]: Json }
): TrainedModel => {
  const { losses: _losses, microBatch, accumulation, ...summary } = outcome
  return {
    provenance: { ...provenance, microBatch, gradientAccumulation: accumulation },
    description: input.model,
    paramCount: model.paramCount,
    precision: model.precision,
    vocabSize: input.dataset.vocabSize,
    seqLen: input.dataset.seqLen,
    train: summary,
    codeLengths: model.codeLengths,
    tokenLogProbs: model.tokenLogProbs,
    nextTokenLogits: model.nextTokenLogits,
    generate: model.generate,
    save: (dir: string) =>
      model.exportWeights().pipe(
        Effect.mapError((e) => new ModelError({ message: `cannot read the weights back to save them: ${e.message}`, file: dir })),
        Effect.flatMap((w) => saveCheckpoint(dir, w))
      )
  }
}

/**
 * Reloads what a trainer's `save` wrote (a reference model trained once and
 * saved under references/<id>/), on that trainer's backend, with its
 * precision and the model's BOS setting, through the checkpoint loader.
 */
export const reloadSaved = (precision: Precision, device: Device): ReloadImpl => (dir, input) =>
  checkpointTrainer.make({ path: dir, precision, bos: input.model.config["bos"] === true, lossSample: 256, device })(input)
