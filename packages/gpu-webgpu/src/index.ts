/** @memorize/gpu-webgpu: GPT-2 training and evaluation on WebGPU (Dawn). */
import { gpt2ModelPlugin } from "./model/plugin.ts"
import { webgpuTrainerPlugin } from "./train/plugin.ts"

export { adapterProvenance, type AdapterInfo, WebGpu } from "./device/webgpu.ts"
export { type GpuGpt2, makeGpuGpt2, type Precision } from "./model/gpu-model.ts"
export { gpt2ModelPlugin } from "./model/plugin.ts"
export { webgpuTrainerPlugin } from "./train/plugin.ts"
export { gpt2ParamCount, gpt2TensorShapes, type Gpt2Shape, type Gpt2Weights, type HostTensor } from "./model/weights.ts"

export const plugins = [gpt2ModelPlugin, webgpuTrainerPlugin]
