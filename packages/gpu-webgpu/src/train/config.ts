/**
 * The training settings every GPT-2 trainer shares (webgpu, cpu): one schema
 * for the fields, so both read a spec's `train:` section the same way, and
 * one place that turns a trainer's outcome and model into a TrainedModel.
 */
import {
  type Json,
  ModelError,
  NonNegativeInt,
  PositiveInt,
  PositiveNumber,
  type ReloadImpl,
  type TrainedModel,
  type TrainInput,
  TrainError,
  withDefault
} from "@memorize/core"
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

/** The fields, each with the description editors and `memorize plugins` show (the paper's value where it states one). */
export const trainFields = {
  precision: withDefault(
    Schema.Literals(precisions).annotate({
      description:
        "fp32; bf16 (bf16 matmul operands, fp32 accumulation and master weights); bf16-params (weights stored in bf16); fp16. The paper: bf16 (≈3.5–3.6 bits/param) and fp32 (≈3.8)"
    }),
    "fp32"
  ),
  batchSize: withDefault(PositiveInt.annotate({ description: "sequences per optimizer step (accumulated over micro-batches); the paper: 2048" }), 64),
  lr: withDefault(PositiveNumber.annotate({ description: "peak learning rate of Adam(W), reached after warmupSteps (the paper does not state it)" }), 1e-3),
  beta1: withDefault(Unit.annotate({ description: "Adam β1: decay of the gradient's running mean" }), 0.9),
  beta2: withDefault(Unit.annotate({ description: "Adam β2: decay of the squared gradient's running mean" }), 0.999),
  eps: withDefault(PositiveNumber.annotate({ description: "Adam ε, added to the root of the second moment" }), 1e-8),
  weightDecay: withDefault(
    NonNegative.annotate({
      description: "decoupled (AdamW) weight decay on the weight matrices and embeddings (not biases or LayerNorm); 0 is plain Adam, the paper's optimizer"
    }),
    0
  ),
  warmupSteps: withDefault(NonNegativeInt.annotate({ description: "steps of linear learning-rate warmup from 0 to lr" }), 0),
  schedule: withDefault(
    Schema.Literals(["constant", "cosine", "linear"]).annotate({
      description: "learning rate after warmup: constant, or cosine or linear decay to 0 at maxSteps"
    }),
    "constant"
  ),
  maxSteps: withDefault(PositiveInt.annotate({ description: "optimizer steps at most (a stop rule may end sooner); the paper: 10^6" }), 1000),
  gradClip: withDefault(NonNegative.annotate({ description: "clip the global gradient norm to this; 0 turns clipping off" }), 1),
  stop: withDefault(
    Schema.Struct({
      plateau: Schema.optional(
        Schema.Struct({
          window: PositiveInt.annotate({ description: "steps per window" }),
          minDelta: NonNegative.annotate({ description: "least fall of the mean loss (nats/token) from one window to the next that keeps training" })
        })
      ).annotate({ description: "stop when the mean training loss of the last window steps is less than minDelta below the window before" }),
      targetLoss: Schema.optional(NonNegative).annotate({ description: "stop once the training loss (nats/token) is at most this" })
    }).annotate({ description: "rules that end training before maxSteps (default: none)" }),
    {}
  ),
  logEvery: withDefault(PositiveInt.annotate({ description: "read the loss back, check stop rules and report progress every this many steps" }), 10),
  microBatch: Schema.optional(PositiveInt).annotate({
    description: "sequences per forward/backward pass; the batch is accumulated over passes (default: as many as fit)"
  }),
  seed: Schema.optional(Schema.Int).annotate({ description: "seed of the initialisation and the batch order (default: the run's seed)" })
}

const decodeModelConfig = Schema.decodeUnknownEffect(Gpt2ModelConfig)

/** The gpt2 model section of a run, as the trainers need it. */
export const gpt2Target = (input: TrainInput, trainer: string) =>
  Effect.gen(function* () {
    if (input.model.kind !== "gpt2")
      return yield* Effect.fail(new TrainError({ message: `the ${trainer} trainer trains "gpt2" models, not "${input.model.kind}"` }))
    const mc = yield* decodeModelConfig(input.model.config).pipe(Effect.mapError((e) => new TrainError({ message: `gpt2 model config: ${e.message}` })))
    return { bos: mc.bos, shape: gpt2ShapeFor(mc, input.dataset) as Gpt2Shape }
  })

/** A trained GPT-2 as metrics see it. */
export const trainedModel = (input: TrainInput, model: Gpt2Model, outcome: TrainOutcome, provenance: { readonly [k: string]: Json }): TrainedModel => {
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
    nextTokenStepper: model.nextTokenStepper,
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
export const reloadSaved =
  (precision: Precision, device: Device): ReloadImpl =>
  (dir, input) =>
    checkpointTrainer.make({ path: dir, precision, bos: input.model.config["bos"] === true, lossSample: 256, device })(input)
