/** What `memorize eval` is asked to do. */
import type { Precision } from "@memorize/gpu-webgpu"
import type { Device } from "./gpu.ts"

export interface EvalOptions {
  /** Checkpoint folder, .safetensors or .safetensors.index.json. */
  readonly model: string
  /** JSONL file of the sequences to measure (the members, when a holdout is given). */
  readonly tokens: string
  /** JSONL file of held-out sequences (not trained on): the non-members of the membership attack. */
  readonly holdout?: string
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
