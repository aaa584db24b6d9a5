/**
 * `memorize eval`: audit an existing model. Loads a Hugging Face GPT-2
 * checkpoint (any dtype, sharded or not), evaluates token sequences from JSONL
 * files and prints one JSON line per sequence
 *
 *   {"index": i, "bits": L(x_i|θ̂)}                      (+ "tokenBits" with --per-token)
 *
 * then a summary object (total / mean bits and quantiles; unintended
 * memorization max(0, L(x|θ_ref) − L(x|θ̂)) when --reference is given; the
 * loss-threshold membership-inference metrics when --holdout is given).
 * With --out DIR the lines go to DIR/bits.jsonl and the summary to
 * DIR/summary.json (each written atomically); progress goes to stderr.
 * The library is @memorize/eval; this file is the command's wiring.
 */
import { ModelError, stderrProgress as progressBar } from "@memorize/core"
import { bitsLines, type Device, devices, EVAL_PROGRESS, type EvalOptions, prepareEval, runEval, writeEvalFiles } from "@memorize/eval"
import { WebGpu } from "@memorize/gpu-webgpu"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"

const writeStdout = (text: string) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve) => {
        if (process.stdout.write(text)) resolve()
        else process.stdout.once("drain", () => resolve())
      })
  )

export const evalCommand = Command.make(
  "eval",
  {
    model: Flag.String("model").pipe(
      Flag.withDescription("checkpoint to audit: a folder with config.json + model.safetensors (or a sharded index), or the file")
    ),
    tokens: Flag.String("tokens").pipe(Flag.withDescription('JSONL: one sequence a line, [ids...] or {"tokens": [ids...]}; lengths 1..n_positions')),
    holdout: Flag.String("holdout").pipe(
      Flag.withDescription("JSONL of held-out sequences (not trained on): adds the membership-inference metrics"),
      Flag.optional
    ),
    reference: Flag.String("reference").pipe(
      Flag.withDescription("reference checkpoint θ_ref: adds unintended memorization max(0, L(x|θ_ref) − L(x|θ̂))"),
      Flag.optional
    ),
    perToken: Flag.Boolean("per-token").pipe(Flag.withDescription("add each token's bits to the per-sequence lines"), Flag.withDefault(false)),
    out: Flag.String("out").pipe(Flag.withDescription("write bits.jsonl and summary.json into this folder instead of stdout"), Flag.optional),
    precision: Flag.Literals("precision", ["fp32", "bf16", "bf16-params", "fp16"]).pipe(
      Flag.withDescription("arithmetic (bf16: bfloat16 matmul operands)"),
      Flag.withDefault("fp32" as const)
    ),
    device: Flag.Literals("device", devices).pipe(
      Flag.withDescription("cpu (native), webgpu, or auto: WebGPU on a real GPU, else the native CPU backend"),
      Flag.withDefault("auto" as Device)
    ),
    bos: Flag.Boolean("bos").pipe(
      Flag.withDescription("the checkpoints were trained with a BOS token (the last id): every token is predicted"),
      Flag.withDefault(false)
    )
  },
  (flags) =>
    Effect.gen(function* () {
      const progress = progressBar(EVAL_PROGRESS)
      const options: EvalOptions = {
        model: flags.model,
        tokens: flags.tokens,
        ...(Option.isSome(flags.holdout) ? { holdout: flags.holdout.value } : {}),
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
      const result = yield* (
        flags.device === "cpu"
          ? onCpu
          : runEval(prepared, options).pipe(
              Effect.provide(WebGpu.layer),
              Effect.catchTag("DeviceError", (e) => (flags.device === "auto" ? onCpu : Effect.fail(new ModelError({ message: `device webgpu: ${e.message}` }))))
            )
      ).pipe(Effect.ensuring(Effect.sync(progress.close)))
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
