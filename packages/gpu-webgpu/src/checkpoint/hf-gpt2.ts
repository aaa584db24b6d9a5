/**
 * Hugging Face GPT-2 checkpoints: `model.safetensors` (or a sharded
 * `model.safetensors.index.json`) + `config.json`, as `GPT2LMHeadModel`
 * saves and loads them.
 *
 * Names: `transformer.` + our names (wte.weight, h.0.attn.c_attn.weight, ...;
 * Conv1D weights are [in, out] in both), and `lm_head.weight` only for an
 * untied head (transformers drops the tied copy when saving). Loading accepts
 * names with or without the `transformer.` prefix and ignores the attention
 * mask buffers (`attn.bias`, `attn.masked_bias`) older versions saved.
 */
import { Effect } from "effect"
import { ModelError } from "@memorize/core"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { type Gpt2Shape, type Gpt2Weights, type HostTensor, gpt2TensorShapes } from "../model/weights.ts"
import { gpt2ConfigText, parseGpt2Config } from "./hf-config.ts"
import { openTensorSource, type WritableDtype, writeFileAtomic, writeSafetensors } from "./safetensors.ts"

export const MODEL_FILE = "model.safetensors"
export const INDEX_FILE = "model.safetensors.index.json"
export const CONFIG_FILE = "config.json"
const PREFIX = "transformer."

/** The Hugging Face name of one of our tensor names. */
export const hfName = (name: string): string => (name === "lm_head.weight" ? name : PREFIX + name)

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.length === b.length && a.every((x, i) => x === b[i])

/** Checks that `weights` hold every tensor of their shape with the right size, naming the first that does not. */
export const checkWeights = (weights: Gpt2Weights, file?: string): Effect.Effect<void, ModelError> =>
  Effect.gen(function* () {
    for (const [name, dims] of gpt2TensorShapes(weights.shape)) {
      const t = weights.tensors.get(name)
      const where = file !== undefined ? { file } : {}
      if (t === undefined) return yield* Effect.fail(new ModelError({ message: `missing tensor ${name}`, tensor: name, ...where }))
      const n = dims.reduce((a, b) => a * b, 1)
      if (!sameShape(t.shape, dims) || t.data.length !== n) {
        return yield* Effect.fail(
          new ModelError({
            message: `tensor ${name} has shape [${t.shape.join(", ")}] (${t.data.length} values), the model's shape needs [${dims.join(", ")}]`,
            tensor: name,
            ...where
          })
        )
      }
    }
  })

/**
 * Saves `weights` into `dir` as model.safetensors + config.json, each written
 * atomically (temporary file, then rename). `dtype` "BF16" halves the file.
 */
export const saveHfGpt2 = (dir: string, weights: Gpt2Weights, options?: { readonly dtype?: WritableDtype }): Effect.Effect<void, ModelError> =>
  Effect.gen(function* () {
    const modelFile = nodePath.join(dir, MODEL_FILE)
    yield* checkWeights(weights, modelFile)
    const tensors = gpt2TensorShapes(weights.shape).map(([name, shape]) => ({
      name: hfName(name),
      shape,
      data: weights.tensors.get(name)!.data,
      dtype: options?.dtype ?? "F32"
    }))
    yield* writeSafetensors(modelFile, tensors, { format: "pt" })
    const config = gpt2ConfigText(weights.shape)
    yield* writeFileAtomic(nodePath.join(dir, CONFIG_FILE), (h) => h.writeFile(config, "utf8").then(() => undefined))
  })

/** Where the weights and the config of a checkpoint path are. */
const resolvePaths = (path: string): Effect.Effect<{ readonly weightsFile: string; readonly configFile: string }, ModelError> =>
  Effect.gen(function* () {
    const stat = yield* Effect.tryPromise({
      try: () => fs.stat(path),
      catch: () =>
        new ModelError({ message: "checkpoint not found (expected a folder with config.json, a .safetensors or a .safetensors.index.json file)", file: path })
    })
    if (!stat.isDirectory()) {
      if (!path.endsWith(".safetensors") && !path.endsWith(".json")) {
        return yield* Effect.fail(
          new ModelError({ message: "not a checkpoint: expected a .safetensors or .safetensors.index.json file, or a folder", file: path })
        )
      }
      return { weightsFile: path, configFile: nodePath.join(nodePath.dirname(path), CONFIG_FILE) }
    }
    const exists = (f: string) =>
      Effect.promise(() =>
        fs.access(f).then(
          () => true,
          () => false
        )
      )
    for (const name of [MODEL_FILE, INDEX_FILE]) {
      const f = nodePath.join(path, name)
      if (yield* exists(f)) return { weightsFile: f, configFile: nodePath.join(path, CONFIG_FILE) }
    }
    return yield* Effect.fail(new ModelError({ message: `no ${MODEL_FILE} or ${INDEX_FILE} in the checkpoint folder`, file: path }))
  })

const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/

/**
 * Loads a checkpoint (folder, .safetensors or .safetensors.index.json) with
 * its config.json. F32, F16, BF16 (and F64) tensors become Float32. The head
 * is tied to wte unless an `lm_head.weight` that differs from wte is present.
 */
export const loadHfGpt2 = (path: string): Effect.Effect<Gpt2Weights, ModelError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { weightsFile, configFile } = yield* resolvePaths(path)
      const configText = yield* Effect.tryPromise({
        try: () => fs.readFile(configFile, "utf8"),
        catch: () => new ModelError({ message: "config.json missing beside the checkpoint (it gives n_head, n_positions, ...)", file: configFile })
      })
      const config = yield* parseGpt2Config(configFile, configText)
      const source = yield* openTensorSource(weightsFile)
      const fail = (message: string, tensor: string) => Effect.fail(new ModelError({ message, tensor, file: source.info(tensor)?.file ?? weightsFile }))

      // Our name → the stored name, prefix removed, buffers dropped, strangers refused.
      const expected = new Map(gpt2TensorShapes({ ...config, tiedHead: false }))
      const stored = new Map<string, string>()
      for (const name of source.names) {
        const local = name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name
        if (MASK_BUFFER.test(local)) continue
        if (!expected.has(local)) {
          return yield* fail(`unexpected tensor ${name} for a GPT-2 with n_layer = ${config.layers} (config.json)`, name)
        }
        if (stored.has(local)) return yield* fail(`tensor ${name} is stored twice (with and without the ${PREFIX} prefix)`, name)
        stored.set(local, name)
      }
      const describe = `vocab_size ${config.vocabSize}, n_positions ${config.nPositions}, n_embd ${config.dModel}, n_layer ${config.layers}`
      const tensors = new Map<string, HostTensor>()
      for (const [local, dims] of expected) {
        const name = stored.get(local)
        if (name === undefined) {
          if (local === "lm_head.weight") continue
          return yield* fail(`missing tensor ${hfName(local)} (config.json: ${describe})`, hfName(local))
        }
        const info = source.info(name)!
        if (!sameShape(info.shape, dims)) {
          return yield* fail(`tensor ${name} has shape [${info.shape.join(", ")}] but config.json (${describe}) implies [${dims.join(", ")}]`, name)
        }
        tensors.set(local, { shape: dims, data: yield* source.read(name) })
      }

      const head = tensors.get("lm_head.weight")
      const wte = tensors.get("wte.weight")!
      let tiedHead = true
      if (head !== undefined) {
        const equal = head.data.every((x, i) => Object.is(x, wte.data[i]))
        if (equal) tensors.delete("lm_head.weight")
        else if (config.tiedHead) {
          // transformers would silently overwrite lm_head with wte here; refusing is safer than guessing.
          return yield* fail("lm_head.weight differs from transformer.wte.weight but config.json has tie_word_embeddings true", stored.get("lm_head.weight")!)
        } else tiedHead = false
      } else if (!config.tiedHead) {
        return yield* fail("config.json has tie_word_embeddings false but there is no lm_head.weight", "lm_head.weight")
      }
      const shape: Gpt2Shape = { ...config, tiedHead }
      return { shape, tensors } satisfies Gpt2Weights
    })
  )
