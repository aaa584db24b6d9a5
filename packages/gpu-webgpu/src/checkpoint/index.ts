/**
 * Checkpoints in the Hugging Face GPT-2 layout (see hf-gpt2.ts): what
 * `TrainedModel.save` writes and the `checkpoint` trainer plugin reads.
 */
import type { Effect } from "effect"
import type { ModelError } from "@memorize/core"
import type { Gpt2Weights } from "../model/weights.ts"
import { loadHfGpt2, saveHfGpt2 } from "./hf-gpt2.ts"

/** Writes `dir/model.safetensors` (F32) and `dir/config.json`, each atomically. */
export const saveCheckpoint = (dir: string, weights: Gpt2Weights): Effect.Effect<void, ModelError> => saveHfGpt2(dir, weights)

/** Loads a folder with config.json, or a `.safetensors` / `.safetensors.index.json` file beside one. */
export const loadCheckpoint = (path: string): Effect.Effect<Gpt2Weights, ModelError> => loadHfGpt2(path)
